-- escalated: web accounts, their one-time links, sign-in throttling and sessions.
-- Forward-only; applied in one transaction after 005.

-- An account is a person who signs in to the web app, bound to one scope as a token is: a unit,
-- an agency, a member (a person in charge of areas), a supervisor (a person) or the operator
-- (admin). Several accounts may share a scope. The email is unique without regard to case. The
-- password is a bcrypt hash, null until the person sets one through their invitation. Accounts
-- are disabled, never deleted, so that events keep naming them.
CREATE TABLE escalated.accounts (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    email           text NOT NULL CHECK (char_length(email) BETWEEN 3 AND 254),
    locale          text NOT NULL DEFAULT 'vi' CHECK (locale IN ('vi', 'en')),
    scope_kind      text NOT NULL CHECK (scope_kind IN ('unit', 'agency', 'member', 'supervisor', 'admin')),
    scope_code      text CHECK (scope_code IS NULL OR char_length(scope_code) BETWEEN 1 AND 64),
    password_hash   text CHECK (password_hash IS NULL OR password_hash LIKE '$2%'),
    created_at      timestamptz NOT NULL DEFAULT now(),
    password_set_at timestamptz,
    disabled_at     timestamptz,
    CHECK (scope_kind = 'admin' OR scope_code IS NOT NULL)
);
CREATE UNIQUE INDEX accounts_email ON escalated.accounts (lower(email));

-- Invitation and password-reset links. Only the SHA-256 of the link's secret is kept; the secret
-- is shown once. A link is used at most once (used_at) and not after it expires. Setting a
-- password, or making a new link of the same purpose, voids the account's other open links.
CREATE TABLE escalated.account_links (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id  bigint NOT NULL REFERENCES escalated.accounts (id) ON DELETE CASCADE,
    purpose     text NOT NULL CHECK (purpose IN ('invitation', 'reset')),
    secret_hash bytea NOT NULL UNIQUE CHECK (octet_length(secret_hash) = 32),
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX account_links_account ON escalated.account_links (account_id) WHERE used_at IS NULL;

-- Failed sign-ins, kept here so that every replica counts the same ones: per email address as
-- typed (lowercased; known or not, so a lockout does not tell whether an account exists) and per
-- client address. Rows older than the throttle window are deleted as new failures come.
CREATE TABLE escalated.sign_in_failures (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email_key text NOT NULL CHECK (char_length(email_key) <= 254),
    address   text NOT NULL CHECK (char_length(address) <= 100),
    at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sign_in_failures_email ON escalated.sign_in_failures (email_key, at);
CREATE INDEX sign_in_failures_address ON escalated.sign_in_failures (address, at);
CREATE INDEX sign_in_failures_at ON escalated.sign_in_failures (at);

-- A signed-in session. Only the SHA-256 of the session id (the cookie) is kept. It ends when idle
-- too long or too old (the store decides, from created_at and last_seen_at), at sign-out, and when
-- its account is disabled or its password is set again.
CREATE TABLE escalated.sessions (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id   bigint NOT NULL REFERENCES escalated.accounts (id) ON DELETE CASCADE,
    secret_hash  bytea NOT NULL UNIQUE CHECK (octet_length(secret_hash) = 32),
    address      text CHECK (char_length(address) <= 100),
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sessions_account ON escalated.sessions (account_id);
CREATE INDEX sessions_last_seen ON escalated.sessions (last_seen_at);

-- Which person did it: a web action will name the account beside the scope in `actor`. Existing
-- writers leave both null. No foreign key: accounts are never deleted, and a key would queue a
-- check for every event row (routing writes tens of thousands a second). NOT VALID: the rows
-- already there have no name (the column is new), so the check holds without reading the whole
-- history; new rows are checked.
ALTER TABLE escalated.events
    ADD COLUMN account_id bigint,
    ADD COLUMN account_name text,
    ADD CONSTRAINT events_account_name CHECK (char_length(account_name) BETWEEN 1 AND 100) NOT VALID;
