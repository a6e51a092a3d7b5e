package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
)

const validConfig = `# Outreach configuration
database_url = "postgres://outreach:db-secret-pw@127.0.0.1:1/outreach"

[profile]
name = "Dr. Amaka Obi"
position = "International medical graduate applying in urology"

[[accounts]]
name = "gmail"
email = "amaka.obi@example.com"
display_name = "Amaka Obi"
timezone = "Africa/Lagos"

[accounts.imap]
host = "imap.example.com"
password = "imap-literal-secret"

[accounts.smtp]
host = "smtp.example.com"
security = "starttls"
password_env = "SMTP_PW"

[[accounts]]
name = "university"
email = "aobi@uni.example.edu"

[accounts.imap]
host = "127.0.0.1"
port = 1143
security = "none"
password_file = "PWFILE"

[accounts.smtp]
host = "localhost"
security = "none"
password_cmd = "cat CMDFILE"
`

func configEnv(t *testing.T, content string) (map[string]string, string) {
	t.Helper()
	pw := writeFile(t, "pw", "file-secret\n")
	cmdOut := writeFile(t, "cmd-out", "cmd-secret\nsecond line\n")
	content = strings.ReplaceAll(content, "PWFILE", pw)
	path := writeFile(t, "outreach.toml", strings.ReplaceAll(content, "CMDFILE", cmdOut))
	return map[string]string{"SMTP_PW": "env-secret", "HOME": t.TempDir()}, path
}

func TestConfigCheckMasksEverySecret(t *testing.T) {
	t.Parallel()
	env, path := configEnv(t, validConfig)
	for _, args := range [][]string{{"--config", path, "config", "check"}, {"--config", path, "config", "check", "--json"}} {
		r := cli(t, env, "", args...)
		if r.code != 0 {
			t.Fatalf("%v: %+v", args, r)
		}
		for _, secret := range []string{"db-secret-pw", "imap-literal-secret", "env-secret", "file-secret", "cmd-secret"} {
			if strings.Contains(r.stdout+r.stderr, secret) {
				t.Errorf("%v printed the secret %q:\n%s", args, secret, r.stdout)
			}
		}
		if !strings.Contains(r.stdout, mask) {
			t.Errorf("%v: no masked value in the output:\n%s", args, r.stdout)
		}
	}
	r := cli(t, env, "", "--config", path, "config", "check", "--json")
	var out struct {
		Config  Config        `json:"config"`
		Secrets []secretCheck `json:"secrets"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatal(err)
	}
	if got := out.Config.Accounts[0].IMAP; got.Port != 993 || got.Security != "tls" || got.Username != "amaka.obi@example.com" {
		t.Errorf("defaults not filled in: %+v", got)
	}
	if got := out.Config.Accounts[1].SMTP.Port; got != 587 {
		t.Errorf("smtp port default for security none: %d, want 587", got)
	}
	if len(out.Secrets) != 4 {
		t.Fatalf("secret checks %+v, want 4", out.Secrets)
	}
	for _, s := range out.Secrets {
		if !s.OK {
			t.Errorf("secret %s (%s) did not resolve: %s", s.Key, s.Source, s.Error)
		}
	}
}

func TestSecretSourcesResolve(t *testing.T) {
	t.Parallel()
	env, path := configEnv(t, validConfig)
	cfg, err := loadConfig(path, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	want := map[string]string{"imap0": "imap-literal-secret", "smtp0": "env-secret", "imap1": "file-secret", "smtp1": "cmd-secret"}
	got := map[string]string{}
	for i, a := range cfg.Accounts {
		for name, srv := range map[string]Server{"imap": a.IMAP, "smtp": a.SMTP} {
			s, err := srv.Secret(ctx, func(k string) string { return env[k] })
			if err != nil {
				t.Fatalf("%s%d: %v", name, i, err)
			}
			got[name+string(rune('0'+i))] = s
		}
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: secret %q, want %q", k, got[k], v)
		}
	}
	failing := Server{PasswordCmd: "echo oops >&2; exit 3"}
	if _, err := failing.Secret(ctx, func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), "oops") {
		t.Errorf("a failing password_cmd: %v, want its error output", err)
	}
	if _, err := (Server{PasswordEnv: "UNSET"}).Secret(ctx, func(string) string { return "" }); err == nil {
		t.Error("an unset password_env resolved")
	}
}

func TestConfigErrorsNameKeyAndLine(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, from, to string
		want           []string
	}{
		{"typo in a key", `display_name = "Amaka Obi"`, `dispaly_name = "Amaka Obi"`,
			[]string{"outreach.toml:11:", `unknown key "accounts.dispaly_name"`, `did you mean "display_name"`}},
		{"unknown policy key", "[profile]", "[policy]\nfolow_up_after_days = 3\n\n[profile]",
			[]string{"outreach.toml:5:", `unknown key "policy.folow_up_after_days"`, `did you mean "follow_up_after_days"`}},
		{"bad policy value", "[profile]", "[policy]\nsend_start = \"25:00\"\n\n[profile]",
			[]string{"outreach.toml:5:", "policy.send_start", `"25:00"`}},
		{"clear text to a remote host", `host = "localhost"`, `host = "smtp.uni.example.edu"`,
			[]string{"outreach.toml:35:", "accounts[1].smtp.security", "not a loopback address"}},
		{"two password sources", `password_env = "SMTP_PW"`, "password_env = \"SMTP_PW\"\npassword = \"x\"",
			[]string{"outreach.toml:22:", "accounts[0].smtp.password", "exactly one of"}},
		{"bad security", `security = "starttls"`, `security = "ssl"`,
			[]string{"outreach.toml:20:", "accounts[0].smtp.security", `"ssl": want tls, starttls or none`}},
		{"bad time zone", `timezone = "Africa/Lagos"`, `timezone = "WAT"`,
			[]string{"outreach.toml:12:", "accounts[0].timezone"}},
		{"wrong type", "port = 1143", `port = "1143"`,
			[]string{"outreach.toml:29:", "port"}},
		{"syntax error", `name = "gmail"`, `name = "gmail`,
			[]string{"outreach.toml:9:"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if !strings.Contains(validConfig, c.from) {
				t.Fatalf("test bug: %q not in the config", c.from)
			}
			env, path := configEnv(t, strings.Replace(validConfig, c.from, c.to, 1))
			r := cli(t, env, "", "--config", path, "config", "check")
			if r.code != exitInvalid {
				t.Fatalf("exit %d, want %d: %s", r.code, exitInvalid, r.stderr)
			}
			for _, w := range c.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("error %q does not contain %q", r.stderr, w)
				}
			}
		})
	}
}

func TestDatabaseURLPrecedence(t *testing.T) {
	t.Parallel()
	cases := []struct {
		file, outreachEnv, genericEnv, want string
	}{
		{"file", "specific", "generic", "specific"},
		{"file", "", "generic", "file"},
		{"", "", "generic", "generic"},
		{"", "", "", ""},
	}
	for _, c := range cases {
		env := map[string]string{"OUTREACH_DATABASE_URL": c.outreachEnv, "DATABASE_URL": c.genericEnv}
		if got := resolveDatabaseURL(c.file, func(k string) string { return env[k] }).value; got != c.want {
			t.Errorf("%+v: got %q", c, got)
		}
	}
}

func TestMaskURL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"postgres://u:p%40ss@h/db":                   "postgres://u:********@h/db",
		"postgres://u@h/db?password=abc&sslmode=off": "postgres://u@h/db?password=********&sslmode=off",
		"host=/tmp user=u password='a b' dbname=x":   "host=/tmp user=u password=******** dbname=x",
		"postgres://u@h/db":                          "postgres://u@h/db",
	} {
		if got := maskURL(in); got != want {
			t.Errorf("maskURL(%q) = %q, want %q", in, got, want)
		}
	}
}
