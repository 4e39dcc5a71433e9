-- Argo CD health of a vmop.io VmMigration (resource.customizations.health.vmop.io_VmMigration).
-- Healthy: phase Succeeded, or Aborted when spec.cancel asked for it. Degraded: phase Failed, or
-- Aborted without spec.cancel (final either way: the VM did not move, and an aborted migration
-- never resumes, so it is not Suspended). Suspended: reconciling is paused by the vmop.io/paused
-- annotation. Pending, Running and anything else: Progressing.
local hs = { status = "Progressing", message = "Waiting for vmop to start the migration" }

local function condition(status, kind)
  if status.conditions == nil then
    return nil
  end
  for _, c in ipairs(status.conditions) do
    if c.type == kind then
      return c
    end
  end
  return nil
end

local function detail(status)
  if status.message ~= nil and status.message ~= "" then
    return status.message
  end
  if status.lastError ~= nil and status.lastError.message ~= nil and status.lastError.message ~= "" then
    return status.lastError.message
  end
  local complete = condition(status, "Complete")
  if complete ~= nil and complete.message ~= nil and complete.message ~= "" then
    return complete.message
  end
  return nil
end

-- Argo CD runs these scripts without Lua's string library (only base, table, package and a safe
-- os), so no string functions: each phase's word is spelled out here.
local phase_words = {
  Pending = "pending",
  Running = "running",
  Succeeded = "succeeded",
  Failed = "failed",
  Aborted = "aborted",
}

local function phase_word(phase)
  return phase_words[phase] or phase
end

local function with_detail(message, status)
  local more = detail(status)
  if more ~= nil then
    return message .. ": " .. more
  end
  return message
end

local status = obj.status
if status == nil then
  return hs
end
local phase = status.phase
local cancel = obj.spec ~= nil and obj.spec.cancel == true

if phase == "Succeeded" then
  hs.status = "Healthy"
  hs.message = with_detail("Migration succeeded", status)
  return hs
end

if phase == "Aborted" and cancel then
  hs.status = "Healthy"
  hs.message = "Migration aborted as requested (spec.cancel)"
  return hs
end

if phase == "Failed" or phase == "Aborted" then
  hs.status = "Degraded"
  hs.message = with_detail("Migration " .. phase_word(phase), status)
  return hs
end

local synced = condition(status, "Synced")
if synced ~= nil and synced.status == "False" and synced.reason == "ReconcilePaused" then
  hs.status = "Suspended"
  hs.message = synced.message or "Reconciling is paused"
  return hs
end

if phase ~= nil then
  hs.message = "Migration " .. phase_word(phase)
  if type(status.progress) == "number" then
    hs.message = hs.message .. " (" .. tostring(status.progress) .. "%)"
  end
  if cancel then
    hs.message = hs.message .. ", cancelling"
  elseif phase == "Pending" then
    hs.message = with_detail(hs.message, status)
  end
end
return hs
