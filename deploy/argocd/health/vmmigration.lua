-- Argo CD health of a vmop.io VmMigration (resource.customizations.health.vmop.io_VmMigration).
-- Healthy: phase Succeeded. Degraded: phase Failed or Aborted (both final: the VM did not move,
-- and an aborted migration never resumes, so it is not Suspended). Suspended: reconciling is
-- paused by the vmop.io/paused annotation. Pending, Running and anything else: Progressing.
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

local function text(c, fallback)
  if c ~= nil and c.message ~= nil and c.message ~= "" then
    return c.message
  end
  return fallback
end

local status = obj.status
if status == nil then
  return hs
end
local ready = condition(status, "Ready")
local synced = condition(status, "Synced")
local phase = status.phase

if phase == "Succeeded" then
  hs.status = "Healthy"
  hs.message = text(ready, "Migration succeeded")
  return hs
end

if phase == "Failed" or phase == "Aborted" then
  hs.status = "Degraded"
  local detail = text(ready, text(synced, nil))
  if detail == nil and status.lastError ~= nil and status.lastError.message ~= nil then
    detail = status.lastError.message
  end
  hs.message = "Migration " .. string.lower(phase)
  if detail ~= nil then
    hs.message = hs.message .. ": " .. detail
  end
  return hs
end

if synced ~= nil and synced.status == "False" and synced.reason == "ReconcilePaused" then
  hs.status = "Suspended"
  hs.message = text(synced, "Reconciling is paused")
  return hs
end

if phase ~= nil then
  local progress = ""
  if status.progress ~= nil and status.progress.percent ~= nil then
    progress = " (" .. tostring(status.progress.percent) .. "%)"
  end
  hs.message = "Migration " .. string.lower(phase) .. progress
end
return hs
