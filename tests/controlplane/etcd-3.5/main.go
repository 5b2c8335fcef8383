// Command etcd is the etcd server of go.etcd.io/etcd/server/v3, built as a
// standalone binary for the test control plane (the same entry point as the
// upstream etcd main package).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
