import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { startChildService, type LocalService } from '../../src/shared/services/child-service.js';
import { freeLoopbackPort } from '../../src/shared/services/free-port.js';

/**
 * The ACL rules docs/security.md gives for a cxr user on key prefix PREFIX (the test checks the document
 * says the same): its keys and channels only, every data command, none of the dangerous ones but the three
 * that BullMQ needs (INFO for the server version, CLIENT SETNAME/GETNAME/LIST to name and count workers).
 */
export const aclRules = (prefix: string) =>
  `resetkeys ~${prefix}:* resetchannels &${prefix}:* +@all -@dangerous +info +client|setname +client|getname +client|list`;

export interface Pki {
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** A CA that signed nothing here. */
  otherCa: string;
}

const openssl = (dir: string, args: string[]) =>
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** A test CA and, signed by it, a server certificate for 127.0.0.1 / localhost and a client certificate; and an unrelated CA. */
export function makePki(dir: string): Pki {
  const f = (name: string) => path.join(dir, name);
  for (const ca of ['ca', 'other-ca'])
    openssl(dir, [
      'req',
      '-x509',
      ...EC,
      '-days',
      '2',
      '-subj',
      `/CN=cxr test ${ca}`,
      '-keyout',
      `${ca}.key`,
      '-out',
      `${ca}.pem`,
    ]);
  writeFileSync(f('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  writeFileSync(f('client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const who of ['server', 'client']) {
    openssl(dir, ['req', ...EC, '-subj', `/CN=cxr test ${who}`, '-keyout', `${who}.key`, '-out', `${who}.csr`]);
    openssl(dir, [
      'x509',
      '-req',
      '-in',
      `${who}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      `${who}.ext`,
      '-out',
      `${who}.pem`,
    ]);
  }
  return {
    ca: f('ca.pem'),
    serverCert: f('server.pem'),
    serverKey: f('server.key'),
    clientCert: f('client.pem'),
    clientKey: f('client.key'),
    otherCa: f('other-ca.pem'),
  };
}

export interface SecureRedis extends LocalService {
  /** The config file it runs with (holds the passwords). */
  conf: string;
}

/** A redis-server on a free loopback port, from a config file of `lines`; with `tls`, TLS only on that port. */
export async function startSecureRedis(
  dir: string,
  name: string,
  lines: string[],
  tls?: { pki: Pki; clientCerts: boolean },
): Promise<SecureRedis> {
  const port = await freeLoopbackPort();
  const listen = tls
    ? [
        'port 0',
        `tls-port ${port}`,
        `tls-cert-file ${tls.pki.serverCert}`,
        `tls-key-file ${tls.pki.serverKey}`,
        `tls-ca-cert-file ${tls.pki.ca}`,
        `tls-auth-clients ${tls.clientCerts ? 'yes' : 'no'}`,
      ]
    : [`port ${port}`];
  const conf = path.join(dir, `${name}.conf`);
  writeFileSync(conf, [...listen, 'bind 127.0.0.1', 'save ""', 'appendonly no', ...lines, ''].join('\n'));
  const service = await startChildService(
    'redis-server',
    process.env.REDIS_SERVER_BIN ?? 'redis-server',
    [conf],
    port,
    `${tls ? 'rediss' : 'redis'}://127.0.0.1:${port}`,
  );
  return { ...service, conf };
}
