# Sourced by build.sh and gen-k8s-replace.sh (not executable): reads
# versions.env and picks the control plane that OPRUN_K8S selects.
#
#   OPRUN_K8S=newest (default)  K8S_VERSION, ETCD_VERSION; module dirs kubernetes/, etcd/
#   OPRUN_K8S=oldest            K8S_OLDEST_VERSION, ETCD_OLDEST_VERSION;
#                               module dirs kubernetes-<major.minor>/, etcd-<major.minor>/
#
# Sets: k8s_version, k8s_staging_version, etcd_version, k8s_dir, etcd_dir.
# shellcheck shell=bash
# shellcheck source=versions.env
source "$here/versions.env"

# major_minor v1.32.13 -> 1.32
major_minor() {
  local v="${1#v}"
  printf '%s.%s\n' "${v%%.*}" "$(cut -d. -f2 <<<"$v")"
}

case "${OPRUN_K8S:-newest}" in
  newest)
    k8s_version="$K8S_VERSION"
    k8s_staging_version="$K8S_STAGING_VERSION"
    etcd_version="$ETCD_VERSION"
    k8s_dir=kubernetes
    etcd_dir=etcd
    ;;
  oldest)
    k8s_version="$K8S_OLDEST_VERSION"
    k8s_staging_version="$K8S_OLDEST_STAGING_VERSION"
    etcd_version="$ETCD_OLDEST_VERSION"
    k8s_dir="kubernetes-$(major_minor "$k8s_version")"
    etcd_dir="etcd-$(major_minor "$etcd_version")"
    ;;
  *)
    echo "OPRUN_K8S must be 'newest' or 'oldest', not '${OPRUN_K8S}'" >&2
    exit 2
    ;;
esac
