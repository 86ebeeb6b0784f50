// Renders the API document at /openapi.json. Kept out of the HTML so the page needs no inline script.
// The server fills in PERSIST_AUTHORIZATION: true in development (a pasted token survives a
// reload), false in production (a pasted token never lands in localStorage).
window.onload = function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    persistAuthorization: PERSIST_AUTHORIZATION,
    withCredentials: true,
  });
};
