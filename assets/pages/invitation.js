// The page an invitation mail links to. The token is read once, kept for this tab only and taken
// out of the address bar; nothing is answered until a button is pressed. A person who is not
// signed in gets a code mailed to the invited address, which signs in and, on first use, makes
// the account with that address verified: all an invitation needs.

const status = document.getElementById("status");
const fromLink = new URLSearchParams(location.search).get("token");
if (fromLink) sessionStorage.setItem("invitation", fromLink);
history.replaceState(null, "", location.pathname);
const token = sessionStorage.getItem("invitation");
let accessToken = null;

function show(message, ok) {
  status.textContent = message;
  status.className = ok ? "ok" : "error";
}

async function post(url, body) {
  const headers = { "Content-Type": "application/json" };
  if (accessToken) headers.Authorization = `Bearer ${accessToken}`;
  const response = await fetch(url, { method: "POST", headers, body: JSON.stringify(body) });
  const answer = await response.json().catch(() => null);
  if (!response.ok) throw new Error((answer && answer.message) || `HTTP ${response.status}`);
  return answer.data;
}

async function showAnswer() {
  const response = await fetch("/api/v1/user/", { headers: { Authorization: `Bearer ${accessToken}` } });
  const me = (await response.json()).data;
  document.getElementById("sign-in").hidden = true;
  document.getElementById("answer").hidden = false;
  document.getElementById("who").textContent = `Signed in as ${me.email}.`;
}

function answerWith(form, path, done) {
  document.getElementById(form).addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await post(path, { token });
      sessionStorage.removeItem("invitation");
      document.getElementById("answer").hidden = true;
      show(done, true);
    } catch (error) {
      show(error.message, false);
    }
  });
}
answerWith("accept", "/api/v1/user/invitations/accept", "Welcome: you are a member now.");
answerWith("decline", "/api/v1/user/invitations/decline", "The invitation is declined.");

const emailForm = document.getElementById("email-form");
const codeForm = document.getElementById("code-form");
emailForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    await post("/api/v1/auth/email/sign-in/start", { email: emailForm.elements.email.value });
    emailForm.hidden = true;
    codeForm.hidden = false;
    show("Check your mail for the code.", true);
  } catch (error) {
    show(error.message, false);
  }
});
codeForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    const signedIn = await post("/api/v1/auth/email/sign-in", {
      email: emailForm.elements.email.value,
      code: codeForm.elements.code.value,
    });
    if (signedIn.mfa_required) {
      show("Your account has a second factor: sign in in the app, then open the link again.", false);
      return;
    }
    accessToken = signedIn.token.access_token;
    show("", true);
    await showAnswer();
  } catch (error) {
    show(error.message, false);
  }
});

(async () => {
  if (!token) {
    show("This link is incomplete: open the link from the mail again.", false);
    return;
  }
  try {
    const refreshed = await fetch("/api/v1/auth/refresh", { method: "POST" });
    if (refreshed.ok) {
      accessToken = (await refreshed.json()).data.token.access_token;
      await showAnswer();
      return;
    }
  } catch {
    // Not signed in.
  }
  document.getElementById("sign-in").hidden = false;
})();
