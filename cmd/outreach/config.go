package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"

	outreach "github.com/outreach/outreach"
	"github.com/outreach/outreach/contactcsv"
	"github.com/outreach/outreach/web"
)

// Config is the parsed configuration file. Key names are a contract with
// users' scripts: see the README's configuration reference.
type Config struct {
	DatabaseURL string          `toml:"database_url,omitempty" json:"database_url,omitempty"`
	Profile     Profile         `toml:"profile" json:"profile"`
	Policy      outreach.Policy `toml:"policy" json:"policy"`
	Templates   Templates       `toml:"templates" json:"templates"`
	Web         Web             `toml:"web" json:"web"`
	Accounts    []Account       `toml:"accounts,omitempty" json:"accounts,omitempty"`

	path  string        // where it was read from; "" when no file was found
	lines keyLines      // key path -> line, for error messages
	dbURL sourcedString // the effective database URL and where it came from
}

// Profile describes the applicant, for templates and signatures.
type Profile struct {
	Name        string `toml:"name" json:"name"`
	Position    string `toml:"position,omitempty" json:"position,omitempty"`
	Institution string `toml:"institution,omitempty" json:"institution,omitempty"`
	Country     string `toml:"country,omitempty" json:"country,omitempty"`
	Signature   string `toml:"signature,omitempty" json:"signature,omitempty"`
}

// Templates says where follow-up drafts come from.
type Templates struct {
	// Dir holds the applicant's own templates (NAME.tmpl); they override the
	// built-in ones of the same name. Relative to the configuration file.
	Dir string `toml:"dir,omitempty" json:"dir,omitempty"`
	// FollowUp names the template for follow-ups; a contact's "template"
	// column overrides it.
	FollowUp string `toml:"followup" json:"followup"`
}

// Web is the local approval page (`outreach web`, and the daemon).
type Web struct {
	// Listen is HOST:PORT; a loopback address unless AllowRemote.
	Listen string `toml:"listen" json:"listen"`
	// AllowRemote lets the page listen where other machines reach it (put
	// it behind HTTPS then: the password travels in the login form).
	AllowRemote bool `toml:"allow_remote,omitempty" json:"allow_remote,omitempty"`
}

// Account is one of the applicant's mailboxes.
type Account struct {
	Name        string `toml:"name" json:"name"`
	Email       string `toml:"email" json:"email"`
	DisplayName string `toml:"display_name,omitempty" json:"display_name,omitempty"`
	Timezone    string `toml:"timezone" json:"timezone"`
	IMAP        Server `toml:"imap" json:"imap"`
	SMTP        Server `toml:"smtp" json:"smtp"`
	// SentCopy says who puts the copy of a sent follow-up in the Sent
	// mailbox: "append" (outreach, by IMAP APPEND), "provider" (the
	// provider files submissions itself, as Gmail and Microsoft 365 do),
	// or "auto" (provider for Gmail's and Microsoft's SMTP servers, else
	// append).
	SentCopy string `toml:"sent_copy,omitempty" json:"sent_copy,omitempty"`
}

// Server is how to reach an IMAP or SMTP server, and the secret to log in.
type Server struct {
	Host          string `toml:"host" json:"host"`
	Port          int    `toml:"port" json:"port"`
	Security      string `toml:"security" json:"security"` // tls, starttls or none
	AllowInsecure bool   `toml:"allow_insecure,omitempty" json:"allow_insecure,omitempty"`
	Username      string `toml:"username" json:"username"`
	Password      string `toml:"password,omitempty" json:"password,omitempty"`
	PasswordEnv   string `toml:"password_env,omitempty" json:"password_env,omitempty"`
	PasswordFile  string `toml:"password_file,omitempty" json:"password_file,omitempty"`
	PasswordCmd   string `toml:"password_cmd,omitempty" json:"password_cmd,omitempty"`
	// ExtraFolders are more IMAP folders to sync besides INBOX, Sent and Junk.
	ExtraFolders []string `toml:"extra_folders,omitempty" json:"extra_folders,omitempty"`
	// SkipJunk leaves the Junk (spam) folder out of the sync.
	SkipJunk bool `toml:"skip_junk,omitempty" json:"skip_junk,omitempty"`
}

type sourcedString struct{ value, source string }

// configError is a mistake in the file: the key, its line, and what is wrong.
func (c *Config) configError(key, format string, args ...any) error {
	where := c.path
	if line := c.lines[key]; line > 0 {
		where = fmt.Sprintf("%s:%d", c.path, line)
	}
	return outreach.Errorf(outreach.KindInvalid, "%s: %s: %s", where, key, fmt.Sprintf(format, args...))
}

// findConfig returns the file to read: the flag, else ./outreach.toml, else
// $XDG_CONFIG_HOME/outreach/config.toml; "" when none exists and none was named.
func findConfig(flag string, getenv func(string) string) (string, error) {
	if flag != "" {
		if _, err := os.Stat(flag); err != nil {
			return "", outreach.Errorf(outreach.KindInvalid, "--config: %w", err)
		}
		return flag, nil
	}
	candidates := []string{"outreach.toml"}
	xdg := getenv("XDG_CONFIG_HOME")
	if xdg == "" && getenv("HOME") != "" {
		xdg = filepath.Join(getenv("HOME"), ".config")
	}
	if xdg != "" {
		candidates = append(candidates, filepath.Join(xdg, "outreach", "config.toml"))
	}
	for _, p := range candidates {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", nil
}

// loadConfig reads and validates the configuration. No file is a valid,
// empty configuration: the database URL may still come from the environment.
func loadConfig(path string, getenv func(string) string) (*Config, error) {
	c := &Config{path: path, Policy: outreach.DefaultPolicy(), Templates: Templates{FollowUp: "followup"},
		Web: Web{Listen: web.DefaultListen}}
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, outreach.Errorf(outreach.KindInvalid, "read config: %w", err)
		}
		if err := c.decode(data); err != nil {
			return nil, err
		}
	}
	c.dbURL = resolveDatabaseURL(c.DatabaseURL, getenv)
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Config) decode(data []byte) error {
	c.lines = indexKeyLines(data)
	dec := toml.NewDecoder(bytes.NewReader(data)).DisallowUnknownFields()
	err := dec.Decode(c)
	var strict *toml.StrictMissingError
	var de *toml.DecodeError
	switch {
	case errors.As(err, &strict):
		var msgs []string
		for _, e := range strict.Errors {
			row, _ := e.Position()
			msgs = append(msgs, fmt.Sprintf("%s:%d: unknown key %q%s", c.path, row,
				strings.Join(e.Key(), "."), suggestKey(e.Key())))
		}
		return outreach.Errorf(outreach.KindInvalid, "%s", strings.Join(msgs, "\n"))
	case errors.As(err, &de):
		row, col := de.Position()
		return outreach.Errorf(outreach.KindInvalid, "%s:%d:%d: %s%s", c.path, row, col,
			keyPrefix(de.Key()), de.Error())
	case err != nil:
		return outreach.Errorf(outreach.KindInvalid, "%s: %w", c.path, err)
	}
	return nil
}

func keyPrefix(k toml.Key) string {
	if len(k) == 0 {
		return ""
	}
	return strings.Join(k, ".") + ": "
}

// knownKeys are the names a misspelt key is compared with.
var knownKeys = []string{"database_url", "profile", "policy", "accounts", "name", "position",
	"institution", "country", "signature", "email", "display_name", "timezone", "imap", "smtp",
	"host", "port", "security", "allow_insecure", "username", "password", "password_env",
	"password_file", "password_cmd", "extra_folders", "skip_junk", "templates", "dir", "followup", "sent_copy", "web", "listen",
	"allow_remote"}

func init() { knownKeys = append(knownKeys, outreach.PolicyKeys()...) }

// suggestKey proposes the known key closest to a misspelt one.
func suggestKey(k toml.Key) string {
	if len(k) == 0 {
		return ""
	}
	last := k[len(k)-1]
	best, bestD := "", 3
	for _, cand := range knownKeys {
		if d := editDistance(last, cand); d < bestD {
			best, bestD = cand, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// resolveDatabaseURL: OUTREACH_DATABASE_URL wins (an explicit override for
// this program), then the file's database_url, then the generic DATABASE_URL.
func resolveDatabaseURL(file string, getenv func(string) string) sourcedString {
	switch {
	case getenv("OUTREACH_DATABASE_URL") != "":
		return sourcedString{getenv("OUTREACH_DATABASE_URL"), "environment OUTREACH_DATABASE_URL"}
	case file != "":
		return sourcedString{file, "config database_url"}
	case getenv("DATABASE_URL") != "":
		return sourcedString{getenv("DATABASE_URL"), "environment DATABASE_URL"}
	}
	return sourcedString{}
}

func (c *Config) validate() error {
	var errs []error
	names := map[string]bool{}
	for i := range c.Accounts {
		a := &c.Accounts[i]
		p := fmt.Sprintf("accounts[%d]", i)
		errs = append(errs, c.validateAccount(p, a, names)...)
	}
	for _, pr := range c.Policy.Problems() {
		errs = append(errs, c.configError("policy."+pr.Key, "%s", pr.Problem))
	}
	if err := c.validateWeb(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return outreach.Errorf(outreach.KindInvalid, "%w", err)
	}
	return nil
}

// validateWeb keeps the page on this machine unless allow_remote says
// otherwise: it shows every contact and approves mail.
func (c *Config) validateWeb() error {
	host, _, err := net.SplitHostPort(c.Web.Listen)
	if err != nil {
		return c.configError("web.listen", "%q: want HOST:PORT, such as %s", c.Web.Listen, web.DefaultListen)
	}
	if !isLoopback(host) && !c.Web.AllowRemote {
		return c.configError("web.listen", "%q is reachable from other machines: use a loopback address such as %s, "+
			"or set allow_remote = true and put the page behind HTTPS", c.Web.Listen, web.DefaultListen)
	}
	return nil
}

func (c *Config) validateAccount(p string, a *Account, names map[string]bool) []error {
	var errs []error
	switch {
	case a.Name == "":
		errs = append(errs, c.configError(p+".name", "required: a short name such as \"gmail\""))
	case names[a.Name]:
		errs = append(errs, c.configError(p+".name", "%q names two accounts", a.Name))
	}
	names[a.Name] = true
	if email, err := contactcsv.ParseAddress(a.Email); err != nil {
		errs = append(errs, c.configError(p+".email", "%v", err))
	} else {
		a.Email = email
	}
	if a.Timezone == "" {
		a.Timezone = "UTC"
	} else if _, err := time.LoadLocation(a.Timezone); err != nil || a.Timezone == "Local" {
		errs = append(errs, c.configError(p+".timezone", "%q is not an IANA time zone such as Africa/Lagos", a.Timezone))
	}
	errs = append(errs, c.validateServer(p+".imap", &a.IMAP, a.Email, 993, 143)...)
	errs = append(errs, c.validateServer(p+".smtp", &a.SMTP, a.Email, 465, 587)...)
	if len(a.SMTP.ExtraFolders) > 0 {
		errs = append(errs, c.configError(p+".smtp.extra_folders", "folders belong under [accounts.imap]"))
	}
	if a.SMTP.SkipJunk {
		errs = append(errs, c.configError(p+".smtp.skip_junk", "folders belong under [accounts.imap]"))
	}
	switch a.SentCopy {
	case "":
		a.SentCopy = "auto"
	case "auto", "append", "provider":
	default:
		errs = append(errs, c.configError(p+".sent_copy", "%q: want auto, append or provider", a.SentCopy))
	}
	return errs
}

// providerFilesSent reports whether the account's provider puts what is
// submitted over SMTP in the Sent mailbox by itself, so that outreach must
// not append a second copy. Gmail does, and so do Microsoft 365 and
// Outlook.com; for other servers "auto" appends.
func (a Account) providerFilesSent() bool {
	switch a.SentCopy {
	case "provider":
		return true
	case "append":
		return false
	}
	host := strings.ToLower(strings.TrimSuffix(a.SMTP.Host, "."))
	for _, h := range []string{"smtp.gmail.com", "smtp.googlemail.com", "smtp.office365.com",
		"smtp-mail.outlook.com", "outlook.office365.com"} {
		if host == h {
			return true
		}
	}
	return false
}

func (c *Config) validateServer(p string, s *Server, email string, tlsPort, plainPort int) []error {
	var errs []error
	if s.Host == "" {
		return []error{c.configError(p+".host", "required")}
	}
	if s.Security == "" {
		s.Security = "tls"
	}
	switch s.Security {
	case "tls", "starttls":
	case "none":
		if !isLoopback(s.Host) && !s.AllowInsecure {
			errs = append(errs, c.configError(p+".security", "\"none\" sends the password in clear text to %s, "+
				"which is not a loopback address; use tls or starttls, or set allow_insecure = true", s.Host))
		}
	default:
		errs = append(errs, c.configError(p+".security", "%q: want tls, starttls or none", s.Security))
	}
	if s.Port == 0 {
		s.Port = plainPort
		if s.Security == "tls" {
			s.Port = tlsPort
		}
	} else if s.Port < 1 || s.Port > 65535 {
		errs = append(errs, c.configError(p+".port", "%d is not a TCP port", s.Port))
	}
	if s.Username == "" {
		s.Username = email
	}
	if n := len(s.secretSources()); n != 1 {
		errs = append(errs, c.configError(p+".password",
			"set exactly one of password, password_env, password_file, password_cmd (found %d)", n))
	}
	return errs
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// secretSources lists the password keys that are set, as key = value.
func (s Server) secretSources() [][2]string {
	var out [][2]string
	for _, kv := range [][2]string{{"password", s.Password}, {"password_env", s.PasswordEnv},
		{"password_file", s.PasswordFile}, {"password_cmd", s.PasswordCmd}} {
		if kv[1] != "" {
			out = append(out, kv)
		}
	}
	return out
}
