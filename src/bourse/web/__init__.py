"""Web pages: sign-up, log-in, sessions, two-factor, "Authorized apps" (``bourse.web.routes``)."""
