package dovecot

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

func TestStartLoginKillRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := Start(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	login(t, s)
	s.Kill()
	if c, err := net.DialTimeout("tcp", fmt.Sprintf("%s:%d", s.Host, s.Port), time.Second); err == nil {
		c.Close()
		t.Fatal("still listening after Kill")
	}
	if err := s.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	login(t, s)
}

func login(t *testing.T, s *Server) {
	t.Helper()
	c, err := net.DialTimeout("tcp", fmt.Sprintf("%s:%d", s.Host, s.Port), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	fmt.Fprintf(c, "a LOGIN %s %s\r\nb LIST \"\" \"*\"\r\nc LOGOUT\r\n", User, Password)
	var all strings.Builder
	for {
		line, err := r.ReadString('\n')
		all.WriteString(line)
		if err != nil || strings.HasPrefix(line, "c ") {
			break
		}
	}
	if !strings.Contains(all.String(), "a OK") || !strings.Contains(all.String(), `\Sent`) {
		t.Fatalf("login and list:\n%s", all.String())
	}
}
