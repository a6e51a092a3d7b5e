-- +goose Up
-- The local web page: who may log in, their sessions, and when each login
-- last looked (for "replies since your last visit").

-- One row per login. The applicant is the only one today ("applicant"); a
-- login made with the one-time start-up token has no password hash.
CREATE TABLE web_logins (
    name          text PRIMARY KEY CHECK (name <> ''),
    -- bcrypt ($2a$/$2b$), never the password itself; '' when none is set.
    password_hash text NOT NULL DEFAULT '' CHECK (password_hash = '' OR password_hash LIKE '$2%'),
    -- The last request of the current visit, and the end of the visit
    -- before it: replies that arrived after visit_since are new to them.
    last_seen_at  timestamptz,
    visit_since   timestamptz,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    CONSTRAINT web_logins_visit_order CHECK (visit_since IS NULL OR visit_since <= last_seen_at)
);

-- A session is found by the SHA-256 of its cookie, so a copy of this table
-- cannot be replayed as a cookie. The CSRF token is per session.
CREATE TABLE web_sessions (
    id_hash      bytea PRIMARY KEY CHECK (length(id_hash) = 32),
    login        text NOT NULL REFERENCES web_logins (name) ON DELETE CASCADE,
    csrf_token   text NOT NULL CHECK (length(csrf_token) >= 32),
    created_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    CONSTRAINT web_sessions_expire_later CHECK (expires_at > created_at)
);
CREATE INDEX web_sessions_expires ON web_sessions (expires_at);
CREATE INDEX web_sessions_login ON web_sessions (login);

-- +goose Down
DROP TABLE web_sessions;
DROP TABLE web_logins;
