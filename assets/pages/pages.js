// The reset-password, verify-email and sign-in pages that mails link to when APP_URL is not set. The
// link's token is read once and taken out of the address bar; nothing happens until the user
// submits the form (a mail scanner that follows the link burns nothing).

const page = document.body.dataset.page;
const token = new URLSearchParams(location.search).get("token");
history.replaceState(null, "", location.pathname);

const form = document.getElementById("form");
const status = document.getElementById("status");

function show(message, ok) {
  status.textContent = message;
  status.className = ok ? "ok" : "error";
}

if (!token) {
  show("This link is incomplete: open the link from the mail again.", false);
  form.hidden = true;
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
    const response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    const answer = await response.json().catch(() => null);
    if (response.ok) {
      form.hidden = true;
      const done = {
        reset: "Your password is changed. You can sign in with it now.",
        verify: "Thank you: your address is confirmed.",
        "sign-in": answer && answer.data && answer.data.mfa_required
          ? "One more step: finish signing in with your authenticator in the app."
          : "You are signed in. You can return to the app.",
      };
      show(done[page], true);
      return;
    }
    const details = answer && answer.details ? answer.details.map((d) => d.msg).join(" ") : "";
    show(`${(answer && answer.message) || "Something went wrong."} ${details}`.trim(), false);
  } catch {
    show("The server cannot be reached. Try again in a moment.", false);
  }
  button.disabled = false;
});
