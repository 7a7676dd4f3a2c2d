// Names of this service's remediation API (deploy/crds/remediation) and of the infrastructure reboot hook.
// The request/template pair follows CAPI's external remediation contract (CAPI-FACTS §4.3): a
// MachineHealthCheck whose remediation template is an AutopilotRemediationTemplate makes CAPI (or our
// standalone evaluator) create an AutopilotRemediation named after the unhealthy Machine.

export const REMEDIATION_GROUP = 'remediation.capi-autopilot.io';
export const REMEDIATION_VERSION = 'v1alpha1';
export const REMEDIATION_API_VERSION = `${REMEDIATION_GROUP}/${REMEDIATION_VERSION}`;
export const REQUEST_KIND = 'AutopilotRemediation';
export const TEMPLATE_KIND = 'AutopilotRemediationTemplate';
export const REQUEST_RESOURCE = 'autopilotremediations';
export const TEMPLATE_RESOURCE = 'autopilotremediationtemplates';

/**
 * The infrastructure reboot hook. The Reboot step sets REBOOT_REQUESTED on the Machine's infrastructure
 * object (spec.infrastructureRef) with a token unique to the attempt; the provider power-cycles the
 * instance and answers by setting REBOOTED to the same token. Key presence is not enough: only the
 * token ties an answer to this attempt, so a stale answer from an earlier attempt is never taken.
 */
export const REBOOT_REQUESTED_ANNOTATION = 'remediation.capi-autopilot.io/reboot-requested';
export const REBOOTED_ANNOTATION = 'remediation.capi-autopilot.io/rebooted';
