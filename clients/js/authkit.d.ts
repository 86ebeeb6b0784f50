// Types of authkit.js, kept by hand; `tsc --noEmit -p clients/js` checks them against a use of
// every call (types-check.ts) in the test command.

/** A validation problem of a 422: where (`["body", "email"]`), what, and its type. */
export interface ValidationDetail {
  loc: string[];
  msg: string;
  type: string;
}

/** Every failure of a call: the server's refusal, or no server (`status` 0). */
export declare class AuthError extends Error {
  name: 'AuthError';
  /** HTTP status; 0 when the server could not be reached. */
  status: number;
  /** The envelope's `code` (the HTTP status), or a provider redirect's error code
   *  (`access_denied`, `provider_unavailable`, ...), or `network_error`. */
  code: number | string;
  /** Validation problems (422); empty otherwise. */
  details: ValidationDetail[];
  /** Seconds to wait before trying again (`Retry-After` of a 429 or 503), else null. */
  retryAfter: number | null;
  constructor(
    status: number,
    code: number | string,
    message: string,
    details?: ValidationDetail[],
    retryAfter?: number | null,
  );
}

export interface Role {
  _id: string;
  name: string;
  description: string;
  permissions: string[];
  is_active: boolean;
  created_at: string;
}

export interface User {
  id: string;
  username: string;
  email: string;
  full_name: string | null;
  role: Role;
  is_active: boolean;
  created_at: string;
  updated_at: string;
  last_login_at: string | null;
  email_verified: boolean;
  pending_email: string | null;
  mfa_enabled: boolean;
  has_password: boolean;
}

/** What this tab knows of the session; the claims are read for display, the server checks. */
export interface Session {
  accessToken: string;
  userId: string | null;
  expiresAt: Date | null;
  /** The active organization (`switchOrganization`), or null. */
  orgId: string | null;
  orgRole: string | null;
  /** How the session was proven: `pwd`, `otp`, `mail`, `hwk`, ... */
  amr: string[];
}

export type SignInResult =
  | { status: 'signed_in'; user: User }
  | { status: 'mfa_required'; mfaToken: string; methods: string[]; expiresIn: number };

export type RedirectResult = SignInResult | { status: 'linked'; provider: string };

export interface ServerSession {
  id: string;
  device: string;
  ip_address: string;
  user_agent: string;
  created_at: string;
  last_activity: string;
  expires_at: string;
  current: boolean;
}

export interface SecurityEvent {
  id: string;
  at: string;
  type: string;
  user_id: string | null;
  actor_id: string | null;
  org_id?: string | null;
  ip_address: string | null;
  device: string | null;
  detail: Record<string, unknown>;
}

export interface Passkey {
  id: string;
  name: string;
  created_at: string;
  last_used_at: string | null;
  backed_up: boolean;
  transports: string[];
}

/** `owner`, `admin` or `member`. */
export type OrgRole = 'owner' | 'admin' | 'member';

export interface Organization {
  id: string;
  name: string;
  slug: string;
  created_at: string;
}

/** In `organizations()`: with the user's role in each. */
export interface OrganizationWithRole extends Organization {
  role: OrgRole;
}

export interface Member {
  user: { id: string; username: string; email: string; full_name: string | null };
  role: OrgRole;
  joined_at: string;
}

export interface Invitation {
  id: string;
  email: string;
  role: OrgRole;
  invited_by: string;
  created_at: string;
  expires_at: string;
}

/** In `invitations()`: with the organization it is to. */
export interface InvitationWithOrg extends Invitation {
  org: Organization;
}

export interface Page {
  limit?: number;
  before?: string;
}

export interface ClientOptions {
  /** The server, e.g. `https://api.example.com`; default: this page's origin. */
  baseUrl?: string;
  /** A fetch to use instead of the global one. */
  fetch?: typeof fetch;
  /** Names the cross-tab channel and lock; default: derived from `baseUrl`. */
  channelName?: string;
}

export declare class AuthClient {
  constructor(options?: ClientOptions);

  readonly session: Session | null;
  readonly accessToken: string | null;
  onSessionChange(listener: (session: Session | null) => void): () => boolean;

  request<T = unknown>(method: string, path: string, body?: unknown): Promise<T>;
  fetch(url: string, init?: RequestInit): Promise<Response>;
  refresh(): Promise<boolean>;
  restore(): Promise<User | null>;

  register(account: {
    username: string;
    email: string;
    password: string;
    full_name?: string;
  }): Promise<User>;
  login(login: string, password: string): Promise<SignInResult>;
  verifySecondFactor(proof: {
    code?: string;
    recoveryCode?: string;
    mfaToken?: string;
  }): Promise<SignInResult>;
  providers(): Promise<Array<{ id: string; name: string }>>;
  signInWithProvider(provider: string, options?: { redirectTo?: string }): Promise<void>;
  handleRedirect(options?: { url?: string }): Promise<RedirectResult | null>;
  sendEmailSignIn(email: string): Promise<void>;
  verifyEmailSignIn(proof: { token: string } | { email: string; code: string }): Promise<SignInResult>;
  signInWithPasskey(options?: {
    mediation?: CredentialMediationRequirement;
    signal?: AbortSignal;
  }): Promise<SignInResult>;
  registerPasskey(options?: { name?: string; currentPassword?: string }): Promise<Passkey>;
  passkeys(): Promise<Passkey[]>;
  removePasskey(id: string, options?: { currentPassword?: string }): Promise<null>;

  logout(): Promise<void>;
  logoutEverywhere(): Promise<{ revoked_sessions: number }>;

  me(): Promise<User>;
  updateMe(changes: Record<string, unknown>): Promise<User>;
  sessions(): Promise<ServerSession[]>;
  revokeSession(sessionId: string): Promise<null>;
  securityEvents(page?: Page): Promise<{ events: SecurityEvent[]; next: string | null }>;

  organizations(): Promise<OrganizationWithRole[]>;
  createOrganization(org: { name: string; slug?: string }): Promise<Organization>;
  organization(orgId: string): Promise<Organization>;
  members(orgId: string, page?: Page): Promise<{ members: Member[]; next: string | null }>;
  invite(orgId: string, invitation: { email: string; role: OrgRole }): Promise<Invitation>;
  invitations(): Promise<InvitationWithOrg[]>;
  acceptInvitation(which: { token: string } | { invitation_id: string }): Promise<Member>;
  declineInvitation(which: { token: string } | { invitation_id: string }): Promise<null>;
  switchOrganization(orgId: string | null): Promise<Session | null>;

  close(): void;
}

export declare function createAuthClient(options?: ClientOptions): AuthClient;
