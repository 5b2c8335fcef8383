-- Runs the Argo CD health check against every fixture; Lua 5.1, as Argo CD (gopher-lua).
--
--   lua5.1 tests/argocd/test.lua HEALTH_LUA FIXTURE_FILE...
--
-- Each fixture file returns a list of {name, obj, want = {status, message}}. The check
-- runs in a fresh environment per fixture with `obj` as its only extra global, as Argo CD
-- runs it. Also asserts that every reason the docs list appears in at least one fixture.

local health_path = arg[1]
if health_path == nil or arg[2] == nil then
  io.stderr:write("usage: lua5.1 test.lua HEALTH_LUA FIXTURE_FILE...\n")
  os.exit(2)
end

local check, err = loadfile(health_path)
if check == nil then
  io.stderr:write("cannot load " .. health_path .. ": " .. tostring(err) .. "\n")
  os.exit(2)
end

-- Every reason docs/troubleshooting.md has a section for, and the worker outcomes.
local REASONS = {
  "UnsupportedFamily", "InvalidRun", "AmbiguousEvidence", "Succeeded", "PartiallySucceeded",
  "Blocked", "Failed", "ScopeMismatch", "InvalidEvidence", "AwaitingEvidence", "Abandoned",
}
local STALE_REASONS = { "QueuedTooLong", "HeartbeatExpired", "Resumed", "WorkerCompleted" }
local OUTCOMES = { "Succeeded", "PartiallySucceeded", "Blocked", "Failed", "Cancelled" }
local VALID = { Healthy = true, Progressing = true, Degraded = true, Suspended = true, Missing = true, Unknown = true }

local seen = { Reconciled = {}, Stale = {}, outcome = {} }
local total, failed = 0, 0

local function note(obj)
  if type(obj.status) ~= "table" then
    return
  end
  for _, c in ipairs(obj.status.conditions or {}) do
    if seen[c.type] ~= nil and c.reason ~= nil then
      seen[c.type][c.reason] = true
    end
  end
  if obj.status.phase == "Completed" and obj.status.outcome ~= nil then
    local decided = false
    for _, c in ipairs(obj.status.conditions or {}) do
      if c.type == "Reconciled" then
        decided = true
      end
    end
    if not decided then
      seen.outcome[obj.status.outcome] = true
    end
  end
end

local function run_one(fixture)
  local env = setmetatable({ obj = fixture.obj }, { __index = _G })
  setfenv(check, env)
  local ok, hs = pcall(check)
  if not ok then
    return "error: " .. tostring(hs)
  end
  if type(hs) ~= "table" then
    return "returned " .. type(hs) .. ", not a table"
  end
  if not VALID[hs.status] then
    return "invalid status " .. tostring(hs.status)
  end
  if type(hs.message) ~= "string" or hs.message == "" then
    return "no message"
  end
  if hs.status ~= fixture.want.status then
    return "status " .. tostring(hs.status) .. ", want " .. tostring(fixture.want.status)
  end
  if fixture.want.message ~= nil and hs.message ~= fixture.want.message then
    return "message " .. string.format("%q", hs.message) .. ", want " .. string.format("%q", fixture.want.message)
  end
  return nil
end

for i = 2, #arg do
  local load_fixtures, ferr = loadfile(arg[i])
  if load_fixtures == nil then
    io.stderr:write("cannot load " .. arg[i] .. ": " .. tostring(ferr) .. "\n")
    os.exit(2)
  end
  local fixtures = load_fixtures()
  local count = 0
  for _, fixture in ipairs(fixtures) do
    total = total + 1
    count = count + 1
    note(fixture.obj)
    local problem = run_one(fixture)
    if problem ~= nil then
      failed = failed + 1
      print("FAIL " .. fixture.name .. ": " .. problem)
    end
  end
  print(string.format("%-40s %d fixtures", arg[i], count))
end

local missing = {}
for _, r in ipairs(REASONS) do
  if not seen.Reconciled[r] then
    table.insert(missing, "Reconciled " .. r)
  end
end
for _, r in ipairs(STALE_REASONS) do
  if not seen.Stale[r] then
    table.insert(missing, "Stale " .. r)
  end
end
for _, o in ipairs(OUTCOMES) do
  if not seen.outcome[o] then
    table.insert(missing, "worker outcome " .. o)
  end
end
for _, m in ipairs(missing) do
  print("MISSING no fixture covers " .. m)
end

if failed > 0 or #missing > 0 then
  print(string.format("%d of %d fixtures failed; %d reasons not covered", failed, total, #missing))
  os.exit(1)
end
print(string.format("ok: %d fixtures, every documented reason covered", total))
