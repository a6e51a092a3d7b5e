package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"time"

	outreach "github.com/outreach/outreach"
)

// mask stands in for a secret in everything Outreach prints or logs.
const mask = "********"

// Secret returns the server's password from the one source the config
// names. password_cmd runs with `sh -c` and its first output line is the
// password (the convention of mbsync and aerc). Errors never quote the secret.
func (s Server) Secret(ctx context.Context, getenv func(string) string) (string, error) {
	switch {
	case s.Password != "":
		return s.Password, nil
	case s.PasswordEnv != "":
		v := getenv(s.PasswordEnv)
		if v == "" {
			return "", outreach.Errorf(outreach.KindInvalid, "password_env: environment variable %s is empty or not set", s.PasswordEnv)
		}
		return v, nil
	case s.PasswordFile != "":
		b, err := os.ReadFile(expandHome(s.PasswordFile))
		if err != nil {
			return "", outreach.Errorf(outreach.KindInvalid, "password_file: %w", err)
		}
		return nonEmptyFirstLine("password_file "+s.PasswordFile, b)
	case s.PasswordCmd != "":
		return runPasswordCmd(ctx, s.PasswordCmd)
	}
	return "", outreach.Errorf(outreach.KindInvalid, "no password source configured")
}

func runPasswordCmd(ctx context.Context, command string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", command)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 200 {
			msg = msg[:200] + "..."
		}
		return "", outreach.Errorf(outreach.KindInvalid, "password_cmd %q failed: %v %s", command, err, msg)
	}
	return nonEmptyFirstLine(fmt.Sprintf("password_cmd %q", command), stdout.Bytes())
}

func nonEmptyFirstLine(what string, b []byte) (string, error) {
	line, _, _ := bufio.NewReader(bytes.NewReader(b)).ReadLine()
	if s := strings.TrimRight(string(line), "\r"); s != "" {
		return s, nil
	}
	return "", outreach.Errorf(outreach.KindInvalid, "%s: first line is empty", what)
}

func expandHome(p string) string {
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			return home + "/" + rest
		}
	}
	return p
}

// dsnPassword finds the password of a keyword/value connection string
// (password=secret or password='sec ret') or of a URL's query.
var dsnPassword = regexp.MustCompile(`(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&]+)`)

// maskURL hides the password of a database URL, in either of libpq's forms.
func maskURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" {
		return dsnPassword.ReplaceAllString(s, "${1}"+mask)
	}
	const placeholder = "OUTREACHMASKED"
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), placeholder)
	}
	u.RawQuery = dsnPassword.ReplaceAllString(u.RawQuery, "${1}"+placeholder)
	return strings.ReplaceAll(u.String(), placeholder, mask)
}
