import { generateKeyPairSync, randomBytes } from 'node:crypto';

/** RSA key pair the apiserver signs service-account tokens with and the controller-manager issues them with. */
export function serviceAccountKeyPair(): { privateKeyPem: string; publicKeyPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

export function randomToken(): string {
  return randomBytes(24).toString('hex');
}

/** kube-apiserver --token-auth-file line: token,user,uid,"group1,group2". */
export function tokenFileLine(token: string, user: string, uid: string, groups: readonly string[]): string {
  for (const v of [token, user, uid, ...groups]) {
    if (/[,"\n]/.test(v)) throw new Error(`token file field may not contain a comma, quote or newline: ${v}`);
  }
  return `${token},${user},${uid},"${groups.join(',')}"\n`;
}
