// Start Swagger UI on this server's own OpenAPI description (no CDN; see app/console/docs.py).
"use strict";

window.addEventListener("load", () => {
  const root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({ url: root.dataset.spec, dom_id: "#swagger-ui",
    deepLinking: true, persistAuthorization: false });
});
