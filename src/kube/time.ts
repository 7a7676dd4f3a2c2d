// The two timestamp encodings of the Kubernetes API.

/** metav1.Time: RFC 3339 with second precision (conditions, timestamps in status). */
export function kubeTime(now: Date): string {
  return now.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** metav1.MicroTime: RFC 3339 with microseconds (Lease renewTime/acquireTime). */
export function kubeMicroTime(now: Date): string {
  return now.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}
