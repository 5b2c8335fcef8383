-- Argo CD health check for ops.tenantatlas.io/OperationRun (Lua 5.1 / gopher-lua).
--
-- Precedence (docs/operating.md, "Argo CD health"):
--   1. a Reconciled condition (the controller's decision) decides, by its reason;
--   2. else a worker-reported Completed decides, by status.outcome;
--   3. else a Stale=True condition (stale, not decided yet) is Progressing;
--   4. else the run is Queued or Running and fresh: Progressing.
-- The message is the message of the deciding condition; for a run without one it is a
-- short sentence built from its phase and outcome.

local RECONCILED = {
  Succeeded = "Healthy",
  PartiallySucceeded = "Degraded",
  Blocked = "Degraded",
  Failed = "Degraded",
  Abandoned = "Degraded",
  UnsupportedFamily = "Degraded",
  InvalidRun = "Degraded",
  AmbiguousEvidence = "Degraded",
  ScopeMismatch = "Degraded",
  InvalidEvidence = "Degraded",
  AwaitingEvidence = "Progressing",
}

local OUTCOME = {
  Succeeded = "Healthy",
  PartiallySucceeded = "Degraded",
  Blocked = "Degraded",
  Failed = "Degraded",
  Cancelled = "Degraded",
}

local hs = {}

local function find(conditions, wanted)
  if type(conditions) ~= "table" then
    return nil
  end
  for _, c in ipairs(conditions) do
    if type(c) == "table" and c.type == wanted then
      return c
    end
  end
  return nil
end

local function text(value, default)
  if type(value) == "string" and value ~= "" then
    return value
  end
  return default
end

local status = nil
if type(obj) == "table" and type(obj.status) == "table" then
  status = obj.status
end
local conditions = nil
if status ~= nil then
  conditions = status.conditions
end

local reconciled = find(conditions, "Reconciled")
local stale = find(conditions, "Stale")
local phase = "Queued"
if status ~= nil then
  phase = text(status.phase, "Queued")
end

if reconciled ~= nil then
  local reason = text(reconciled.reason, "")
  local health = RECONCILED[reason]
  if health ~= nil then
    hs.status = health
    hs.message = text(reconciled.message, "Reconciled=" .. text(reconciled.status, "") .. " " .. reason)
  else
    hs.status = "Unknown"
    hs.message = "Reconciled has a reason this health check does not know: " .. text(reason, "(none)")
  end
elseif phase == "Completed" then
  local outcome = text(status.outcome, "")
  local health = OUTCOME[outcome]
  if health ~= nil then
    hs.status = health
    hs.message = "The worker reported Completed with outcome " .. outcome .. "."
  else
    hs.status = "Unknown"
    hs.message = "The worker reported Completed without a known outcome (" .. text(outcome, "none") .. ")."
  end
elseif stale ~= nil and stale.status == "True" then
  hs.status = "Progressing"
  hs.message = text(stale.message, "The run is stale (" .. text(stale.reason, "") .. ") and not decided yet.")
elseif phase == "Queued" then
  hs.status = "Progressing"
  hs.message = "The run is Queued."
else
  hs.status = "Progressing"
  local heartbeat = nil
  if status ~= nil then
    heartbeat = text(status.heartbeatTime, nil)
  end
  if heartbeat ~= nil then
    hs.message = "The run is " .. phase .. "; last heartbeat at " .. heartbeat .. "."
  else
    hs.message = "The run is " .. phase .. "."
  end
end

return hs
