// Renders the API document at /openapi.json. Kept out of the HTML so the page needs no inline script.
window.onload = function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    persistAuthorization: true,
    withCredentials: true,
  });
};
