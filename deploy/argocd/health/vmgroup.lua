-- Argo CD health of a vmop.io VmGroup (resource.customizations.health.vmop.io_VmGroup).
-- Degraded: phase Failed (a platform rule the spec breaks) or Conflict, a parentRef cycle, or
-- Synced=False for a platform error (ComputeError). Healthy: Ready=True. Suspended: reconciling
-- is paused by the vmop.io/paused annotation. Anything else, including Pending (being created,
-- moved, renamed, or waiting for its parent) and a spec vmop has not seen yet: Progressing.
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
-- A failure reported for the current spec (the condition's own observedGeneration) is Degraded even
-- before status.observedGeneration catches up, as after a first pass the platform refused.
if synced ~= nil and synced.status == "False" and (synced.reason == "ComputeError" or synced.reason == "ParentCycle")
    and (generation == nil or synced.observedGeneration == nil or synced.observedGeneration >= generation) then
  hs.status = "Degraded"
  hs.message = text(synced, synced.reason)
  return hs
end

if status.observedGeneration == nil or (generation ~= nil and status.observedGeneration < generation) then
  if generation ~= nil and synced ~= nil and synced.status == "False" and synced.observedGeneration ~= nil
      and synced.observedGeneration >= generation then
    -- vmop saw this generation but could not start on it (the platform unavailable): say why.
    hs.message = "Generation " .. tostring(generation) .. ": " .. text(synced, synced.reason or "not synced")
  elseif generation ~= nil then
    hs.message = "Waiting for vmop to reconcile generation " .. tostring(generation)
  end
  return hs
end

local phase = status.phase
if phase == "Failed" or phase == "Conflict" then
  hs.status = "Degraded"
  hs.message = phase .. ": " .. text(ready, text(synced, "see the VmGroup's events"))
  return hs
end

if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = text(ready, "Ready")
  return hs
end

if phase ~= nil then
  hs.message = phase .. ": " .. text(ready, text(synced, "reconciling"))
else
  hs.message = text(ready, text(synced, hs.message))
end
return hs
