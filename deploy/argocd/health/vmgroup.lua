-- Argo CD health of a vmop.io VmGroup (resource.customizations.health.vmop.io_VmGroup).
-- Degraded: Synced=False (the platform refused or failed). Healthy: Ready=True. Suspended:
-- reconciling is paused by the vmop.io/paused annotation. Otherwise, including a spec vmop has
-- not seen yet: Progressing.
local hs = { status = "Progressing", message = "Waiting for vmop to reconcile the VmGroup" }

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

if synced ~= nil and synced.status == "False" and synced.reason == "ReconcilePaused" then
  hs.status = "Suspended"
  hs.message = text(synced, "Reconciling is paused")
  return hs
end

local generation = obj.metadata.generation
if status.observedGeneration ~= nil and generation ~= nil and status.observedGeneration < generation then
  hs.message = "Waiting for vmop to reconcile generation " .. tostring(generation)
  return hs
end

if synced ~= nil and synced.status == "False" then
  hs.status = "Degraded"
  hs.message = text(synced, synced.reason or "Synced is False")
  return hs
end

if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = text(ready, "Ready")
  return hs
end

hs.message = text(ready, text(synced, hs.message))
return hs
