// Not shipped: a use of every call of authkit.js, so that `tsc --noEmit -p clients/js` (run by
// the test command) checks authkit.d.ts for consistency and for what an SPA writes against it.
import { AuthError, createAuthClient, type Session, type SignInResult, type User } from './authkit.js';

const auth = createAuthClient({ baseUrl: 'https://api.example.com' });
const stop: () => boolean = auth.onSessionChange((session: Session | null) => {
  if (session) console.log(session.userId, session.orgId, session.expiresAt?.toISOString());
});

async function signIn(login: string, password: string, askCode: () => Promise<string>): Promise<User> {
  let result: SignInResult = await auth.login(login, password);
  if (result.status === 'mfa_required') {
    result = await auth.verifySecondFactor({ code: await askCode() });
  }
  if (result.status !== 'signed_in') throw new Error('unreachable');
  return result.user;
}

async function everything(): Promise<void> {
  const restored: User | null = await auth.restore();
  if (!restored) await auth.register({ username: 'ada', email: 'ada@example.com', password: 'a long password' });
  await signIn('ada', 'a long password', async () => '123456');
  await auth.verifySecondFactor({ recoveryCode: 'abcde-fghij', mfaToken: 'token' });
  const providers = await auth.providers();
  if (providers.length) await auth.signInWithProvider(providers[0].id, { redirectTo: location.href });
  const back = await auth.handleRedirect();
  if (back?.status === 'linked') console.log(back.provider);
  await auth.sendEmailSignIn('ada@example.com');
  await auth.verifyEmailSignIn({ token: 'from the link' });
  await auth.verifyEmailSignIn({ email: 'ada@example.com', code: '123456' });
  await auth.signInWithPasskey({ mediation: 'conditional' });
  const passkey = await auth.registerPasskey({ name: 'Laptop', currentPassword: 'a long password' });
  (await auth.passkeys()).forEach((p) => p.name);
  await auth.removePasskey(passkey.id);
  const me: User = await auth.me();
  await auth.updateMe({ full_name: me.full_name ?? 'Ada' });
  const sessions = await auth.sessions();
  await auth.revokeSession(sessions.filter((s) => !s.current)[0].id);
  const { events, next } = await auth.securityEvents({ limit: 10 });
  if (next) await auth.securityEvents({ before: next });
  events.forEach((e) => e.type);
  const org = await auth.createOrganization({ name: 'Team' });
  (await auth.organizations()).forEach((o) => o.role);
  await auth.organization(org.id);
  const page = await auth.members(org.id, { limit: 50 });
  page.members.forEach((m) => m.user.username);
  await auth.invite(org.id, { email: 'grace@example.com', role: 'member' });
  const waiting = await auth.invitations();
  if (waiting.length) await auth.acceptInvitation({ invitation_id: waiting[0].id });
  await auth.declineInvitation({ token: 'from the mail' });
  const session = await auth.switchOrganization(org.id);
  console.log(session?.orgRole, auth.session?.amr, auth.accessToken);
  const data = await auth.request<{ items: string[] }>('GET', '/things');
  data.items.forEach((item) => item.length);
  const response: Response = await auth.fetch('/api/v1/things', { method: 'GET' });
  console.log(response.status, await auth.refresh());
  await auth.logoutEverywhere();
  await auth.logout();
  auth.close();
  stop();
}

everything().catch((error: unknown) => {
  if (error instanceof AuthError) {
    const wait: number | null = error.retryAfter;
    console.log(error.status, error.code, error.message, error.details.map((d) => d.loc.join('.')), wait);
  }
});
