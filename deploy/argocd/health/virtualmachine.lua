-- Argo CD health of a vmop.io VirtualMachine (resource.customizations.health.vmop.io_VirtualMachine).
-- Degraded: phase Failed/Lost/Conflict, or Synced=False for a platform error (ComputeError) or a
-- change vmop cannot make (UnsupportedChange). Healthy: Ready=True, or the VM rests in the power
-- state its spec asks for (Stopped, Suspended, Hibernated). Suspended: reconciling is paused by
-- the vmop.io/paused annotation. Anything else, including a migration and a spec vmop has not
-- seen yet: Progressing. Argo CD runs this without Lua's string library: plain comparisons only.
local hs = { status = "Progressing", message = "Waiting for vmop to reconcile the VirtualMachine" }

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
if synced ~= nil and synced.status == "False" and (synced.reason == "ComputeError" or synced.reason == "UnsupportedChange")
    and (generation == nil or synced.observedGeneration == nil or synced.observedGeneration >= generation) then
  hs.status = "Degraded"
  hs.message = text(synced, synced.reason)
  return hs
end

if status.observedGeneration == nil or (generation ~= nil and status.observedGeneration < generation) then
  if generation ~= nil and synced ~= nil and synced.status == "False" and synced.observedGeneration ~= nil
      and synced.observedGeneration >= generation then
    -- vmop saw this generation but could not start on it (waiting for its VmGroup, the platform
    -- unavailable): say why.
    hs.message = "Generation " .. tostring(generation) .. ": " .. text(synced, synced.reason or "not synced")
  elseif generation ~= nil then
    hs.message = "Waiting for vmop to reconcile generation " .. tostring(generation)
  end
  return hs
end

local phase = status.phase
if phase == "Failed" or phase == "Lost" or phase == "Conflict" then
  hs.status = "Degraded"
  hs.message = phase .. ": " .. text(ready, text(synced, "see the VirtualMachine's events"))
  return hs
end

-- A migration is a change under way, whether a VmMigration or the platform moves the VM (Ready
-- False or True, the guest serves throughout): Progressing, as a Deployment's rollout is.
if phase == "Migrating" then
  hs.message = phase .. ": " .. text(ready, text(synced, "migrating"))
  return hs
end

if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = text(ready, "Ready")
  if phase ~= nil then
    hs.message = phase .. ": " .. hs.message
  end
  return hs
end

local wanted = "Running"
if obj.spec ~= nil and obj.spec.powerState ~= nil then
  wanted = obj.spec.powerState
end
if (phase == "Stopped" or phase == "Suspended" or phase == "Hibernated") and phase == wanted then
  hs.status = "Healthy"
  hs.message = phase .. " as requested"
  return hs
end

if phase ~= nil then
  hs.message = phase .. ": " .. text(ready, text(synced, "reconciling"))
else
  hs.message = text(ready, text(synced, hs.message))
end
return hs
