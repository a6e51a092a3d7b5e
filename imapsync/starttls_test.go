package imapsync

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

// TestStartTLSRefusals: before TLS is up, every answer but a plain OK to
// STARTTLS ends the connection with a reason, and nothing is read or sent
// in plain text after it (no login, no data taken as if it came over TLS).
func TestStartTLSRefusals(t *testing.T) {
	tests := []struct {
		name     string
		greeting string
		answer   string // to "T1 STARTTLS"; "" sends nothing
		wantErr  string
	}{
		{"preauth", "* PREAUTH [CAPABILITY IMAP4rev1 STARTTLS] welcome", "", "PREAUTH"},
		{"bye", "* BYE too many connections", "", "refuses the connection: * BYE too many connections"},
		{"not untagged", "hello", "", "not an untagged response"},
		{"starttls refused", "* OK ready", "T1 NO [UNAVAILABLE] TLS is down", "refuses STARTTLS: NO [UNAVAILABLE] TLS is down"},
		{"bad", "* OK ready", "T1 BAD what", "refuses STARTTLS: BAD what"},
		{"data injected after OK", "* OK ready", "* CAPABILITY IMAP4rev1\r\nT1 OK begin TLS\r\nA LOGIN x y",
			"sent data after its STARTTLS answer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			got := make(chan string, 1) // what the client sent after the greeting
			go func() {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				c.Write([]byte(tt.greeting + "\r\n"))
				var lines []string
				r := bufio.NewReader(c)
				for {
					c.SetReadDeadline(time.Now().Add(10 * time.Second))
					line, err := r.ReadString('\n')
					if err != nil {
						break
					}
					lines = append(lines, strings.TrimRight(line, "\r\n"))
					if len(lines) == 1 && tt.answer != "" {
						c.Write([]byte(tt.answer + "\r\n")) // one write: one segment on loopback
					}
				}
				got <- strings.Join(lines, "|")
			}()
			a := Account{Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port, Security: "starttls",
				Username: "u", Password: "p", CommandTimeout: 10 * time.Second}
			c, err := Dial(context.Background(), a)
			if err == nil {
				c.Close()
				t.Fatal("Dial succeeded")
			}
			if !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "starttls with 127.0.0.1") {
				t.Errorf("error %q, want it to name starttls and contain %q", err, tt.wantErr)
			}
			sent := <-got
			if sent != "" && sent != "T1 STARTTLS" {
				t.Errorf("client sent %q; want at most the STARTTLS command", sent)
			}
		})
	}
}
