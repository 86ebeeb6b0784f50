// The reset-password, verify-email and sign-in pages that mails link to when APP_URL is not set. The
// link's token is read once and taken out of the address bar; nothing happens until the user
// submits the form (a mail scanner that follows the link burns nothing).
// /sign-in is also a sign-in page of its own: opened directly it offers the configured providers
// and a mailed link; a provider flow returns to it with `?code=` (exchanged at once: the code
// came to this browser only) or `?error=`.

const page = document.body.dataset.page;
const params = new URLSearchParams(location.search);
const token = params.get("token");
history.replaceState(null, "", location.pathname);

const form = document.getElementById("form");
const status = document.getElementById("status");

function show(message, ok) {
  status.textContent = message;
  status.className = ok ? "ok" : "error";
}

async function post(url, body) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const answer = await response.json().catch(() => null);
  return { ok: response.ok, answer };
}

function failure(answer) {
  const details = answer && answer.details ? answer.details.map((d) => d.msg).join(" ") : "";
  return `${(answer && answer.message) || "Something went wrong."} ${details}`.trim();
}

const SIGNED_IN = "You are signed in. You can return to the app.";
const MFA_STEP = "One more step: finish signing in with your authenticator in the app.";
const signedIn = (answer) => (answer && answer.data && answer.data.mfa_required ? MFA_STEP : SIGNED_IN);

if (page === "sign-in") {
  if (token) {
    document.getElementById("link").hidden = false;
  } else if (params.get("code")) {
    exchange(params.get("code"));
  } else if (params.get("error")) {
    show(params.get("error_description") || params.get("error"), false);
    offerChoices();
  } else if (params.get("linked")) {
    show("The account is linked. You can sign in with it now.", true);
  } else {
    offerChoices();
  }
} else if (!token) {
  show("This link is incomplete: open the link from the mail again.", false);
  form.hidden = true;
}

// Back from a provider: the code is exchanged for the session (single use, 60 seconds).
async function exchange(code) {
  show("Signing in…", true);
  try {
    const { ok, answer } = await post("/api/v1/auth/oauth/exchange", { code });
    show(ok ? signedIn(answer) : failure(answer), ok);
  } catch {
    show("The server cannot be reached. Try again in a moment.", false);
  }
}

// A button per configured provider, and the form that mails a sign-in link.
async function offerChoices() {
  document.getElementById("choices").hidden = false;
  const nav = document.getElementById("providers");
  const back = `${location.origin}/sign-in`;
  try {
    const answer = await (await fetch("/api/v1/auth/oauth/providers")).json();
    for (const provider of answer.data || []) {
      const link = document.createElement("a");
      link.className = "provider";
      link.href = `/api/v1/auth/oauth/${encodeURIComponent(provider.id)}/authorize?redirect_to=${encodeURIComponent(back)}`;
      link.textContent = `Sign in with ${provider.name}`;
      nav.append(link);
    }
  } catch {
    // No providers to offer: the mailed link still works.
  }
  const emailForm = document.getElementById("email-form");
  emailForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = emailForm.querySelector("button");
    button.disabled = true;
    try {
      const { ok, answer } = await post("/api/v1/auth/email/sign-in/start", { email: emailForm.elements.email.value });
      show(ok ? "Check your mail: the link and the code work for a few minutes." : failure(answer), ok);
    } catch {
      show("The server cannot be reached. Try again in a moment.", false);
    }
    button.disabled = false;
  });
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  let url = "/api/v1/auth/email/verify";
  let body = { token };
  if (page === "reset") {
    const password = form.elements.new_password.value;
    if (password !== form.elements.confirm_password.value) {
      show("The two passwords differ.", false);
      return;
    }
    url = "/api/v1/auth/password/reset";
    body = { token, new_password: password };
  } else if (page === "sign-in") {
    url = "/api/v1/auth/email/sign-in";
  }
  const button = form.querySelector("button");
  button.disabled = true;
  try {
    const { ok, answer } = await post(url, body);
    if (ok) {
      form.hidden = true;
      const done = {
        reset: "Your password is changed. You can sign in with it now.",
        verify: "Thank you: your address is confirmed.",
        "sign-in": signedIn(answer),
      };
      show(done[page], true);
      return;
    }
    show(failure(answer), false);
  } catch {
    show("The server cannot be reached. Try again in a moment.", false);
  }
  button.disabled = false;
});
