-- Argo CD health of a DigitalRecovery. Reads the kstatus conditions in kstatus' order, so that
-- Argo CD and Flux agree (docs/gitops.md): Reconciling -> Progressing, Stalled -> Degraded,
-- Ready -> Healthy (Suspended when Cancelled on request).
local hs = {status = "Progressing", message = "Waiting for the controller"}
if obj.status == nil or obj.status.conditions == nil then return hs end
if obj.metadata.generation ~= nil and obj.status.observedGeneration ~= nil
   and obj.status.observedGeneration ~= obj.metadata.generation then
  hs.message = "Waiting for the controller to observe the latest spec"
  return hs
end
local cond = {}
for _, c in ipairs(obj.status.conditions) do cond[c.type] = c end
if cond.Reconciling ~= nil and cond.Reconciling.status == "True" then
  hs.message = cond.Reconciling.message
  return hs
end
if cond.Stalled ~= nil and cond.Stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = cond.Stalled.message
  return hs
end
if cond.Ready ~= nil and cond.Ready.status == "True" then
  hs.status = "Healthy"
  if obj.status.phase == "Cancelled" then hs.status = "Suspended" end
  hs.message = cond.Ready.message
  return hs
end
if cond.Ready ~= nil then hs.message = cond.Ready.message end
return hs
