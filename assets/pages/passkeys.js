// Passkeys with no framework: a page to copy. Signed out, it signs in with a passkey and no
// username; signed in (the refresh cookie of this origin), it lists the account's passkeys and
// adds one. The server's options carry binary fields as base64url, which the browser's API wants
// as ArrayBuffers, and the answer goes back as base64url JSON: the two small converters below.

const status = document.getElementById("status");
let accessToken = null;

function show(message, ok) {
  status.textContent = message;
  status.className = ok ? "ok" : "error";
}

const fromBase64url = (text) =>
  Uint8Array.from(atob(text.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0)).buffer;
const toBase64url = (buffer) =>
  btoa(String.fromCharCode(...new Uint8Array(buffer))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

async function api(method, path, body) {
  const headers = { "Content-Type": "application/json" };
  if (accessToken) headers.Authorization = `Bearer ${accessToken}`;
  const response = await fetch(path, { method, headers, body: body && JSON.stringify(body) });
  const answer = await response.json().catch(() => null);
  if (!response.ok) throw new Error((answer && answer.message) || `HTTP ${response.status}`);
  return answer.data;
}

// Registration: navigator.credentials.create with the server's options.
async function addPasskey(name, currentPassword) {
  const { challenge_id, options } = await api("POST", "/api/v1/user/passkeys/register/start",
    currentPassword ? { current_password: currentPassword } : undefined);
  const publicKey = {
    ...options,
    challenge: fromBase64url(options.challenge),
    user: { ...options.user, id: fromBase64url(options.user.id) },
    excludeCredentials: (options.excludeCredentials || []).map((c) => ({ ...c, id: fromBase64url(c.id) })),
  };
  const made = await navigator.credentials.create({ publicKey });
  const credential = {
    id: made.id,
    rawId: toBase64url(made.rawId),
    type: made.type,
    response: {
      attestationObject: toBase64url(made.response.attestationObject),
      clientDataJSON: toBase64url(made.response.clientDataJSON),
      transports: made.response.getTransports ? made.response.getTransports() : [],
    },
    extensions: made.getClientExtensionResults(),
  };
  return api("POST", "/api/v1/user/passkeys/register/finish", { challenge_id, credential, name: name || undefined });
}

// Sign-in: navigator.credentials.get with no allowCredentials, so the authenticator offers the
// passkeys it holds for this site and says whose each is (the user handle).
async function signInWithPasskey() {
  const { challenge_id, options } = await api("POST", "/api/v1/auth/passkeys/login/start");
  const publicKey = {
    ...options,
    challenge: fromBase64url(options.challenge),
    allowCredentials: (options.allowCredentials || []).map((c) => ({ ...c, id: fromBase64url(c.id) })),
  };
  const got = await navigator.credentials.get({ publicKey });
  const credential = {
    id: got.id,
    rawId: toBase64url(got.rawId),
    type: got.type,
    response: {
      authenticatorData: toBase64url(got.response.authenticatorData),
      clientDataJSON: toBase64url(got.response.clientDataJSON),
      signature: toBase64url(got.response.signature),
      userHandle: got.response.userHandle ? toBase64url(got.response.userHandle) : null,
    },
    extensions: got.getClientExtensionResults(),
  };
  const signedIn = await api("POST", "/api/v1/auth/passkeys/login/finish", { challenge_id, credential });
  accessToken = signedIn.token.access_token;
}

async function showAccount() {
  const me = await api("GET", "/api/v1/user/");
  document.getElementById("signed-out").hidden = true;
  document.getElementById("signed-in").hidden = false;
  document.getElementById("who").textContent = `Signed in as ${me.username}.`;
  const list = document.getElementById("list");
  list.replaceChildren(...(await api("GET", "/api/v1/user/passkeys")).map((p) => {
    const item = document.createElement("li");
    item.textContent = `${p.name}${p.last_used_at ? ", last used " + new Date(p.last_used_at).toLocaleString() : ""}`;
    return item;
  }));
}

document.getElementById("sign-in").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    await signInWithPasskey();
    show("You are signed in with your passkey.", true);
    await showAccount();
  } catch (error) {
    show(error.name === "NotAllowedError" ? "The passkey was not used." : error.message, false);
  }
});

document.getElementById("add").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  try {
    await addPasskey(form.elements.name.value.trim(), form.elements.current_password.value);
    form.reset();
    show("The passkey is added.", true);
    await showAccount();
  } catch (error) {
    show(error.name === "NotAllowedError" ? "No passkey was made." : error.message, false);
  }
});

// Signed in already? The refresh cookie (this origin, HttpOnly) answers for an access token.
(async () => {
  try {
    const refreshed = await fetch("/api/v1/auth/refresh", { method: "POST" });
    if (refreshed.ok) {
      accessToken = (await refreshed.json()).data.token.access_token;
      await showAccount();
      return;
    }
  } catch {
    // Not signed in: offer the passkey sign-in.
  }
  document.getElementById("signed-out").hidden = false;
})();
