-- Argo CD health of a vmop.io VmPool (resource.customizations.health.vmop.io_VmPool).
-- Suspended: reconciling is paused by the vmop.io/paused annotation. Degraded: a spec vmop refuses
-- (InvalidSpec). Healthy: vmop saw this generation, Ready=True (every replica Ready) and not
-- Progressing (not scaling or rolling out; under OnDelete VMs on an older template may remain).
-- Anything else, including a spec vmop has not seen yet: Progressing, with the replica counts.
local hs = { status = "Progressing", message = "Waiting for vmop to reconcile the VmPool" }

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
local progressing = condition(status, "Progressing")

if progressing ~= nil and progressing.reason == "ReconcilePaused" then
  hs.status = "Suspended"
  hs.message = text(progressing, "Reconciling is paused")
  return hs
end

local generation = obj.metadata.generation
if ready ~= nil and ready.status == "False" and ready.reason == "InvalidSpec"
    and (generation == nil or ready.observedGeneration == nil or ready.observedGeneration >= generation) then
  hs.status = "Degraded"
  hs.message = text(ready, "InvalidSpec")
  return hs
end

if status.observedGeneration == nil or (generation ~= nil and status.observedGeneration < generation) then
  if generation ~= nil then
    hs.message = "Waiting for vmop to reconcile generation " .. tostring(generation)
  end
  return hs
end

local counts = tostring(status.readyReplicas or 0) .. " Ready, " .. tostring(status.updatedReplicas or 0)
    .. " updated of " .. tostring((obj.spec or {}).replicas or 0)
if ready ~= nil and ready.status == "True" and (progressing == nil or progressing.status == "False") then
  hs.status = "Healthy"
  hs.message = text(progressing, counts)
  return hs
end

hs.message = counts .. ": " .. text(progressing, text(ready, "reconciling"))
return hs
