package imapsync

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestDial connects over each security mode and checks the failures.
func TestDial(t *testing.T) {
	plain := newMemServer(t, serverConfig{})
	implicit := newMemServer(t, serverConfig{implicitTLS: true})
	starttls := newMemServer(t, serverConfig{startTLS: true})
	wrongPass := plain.account("none")
	wrongPass.Password = "nope"
	untrusted := implicit.account("tls")
	untrusted.TLSConfig = nil
	untrustedStartTLS := starttls.account("starttls")
	untrustedStartTLS.TLSConfig = nil
	tests := []struct {
		name    string
		account Account
		wantErr string // substring; "" means success
		auth    bool   // errors.Is(err, ErrAuth)
	}{
		{"none on loopback", plain.account("none"), "", false},
		{"implicit tls", implicit.account("tls"), "", false},
		{"starttls", starttls.account("starttls"), "", false},
		{"wrong password", wrongPass, "login to", true},
		{"untrusted certificate", untrusted, "tls handshake", false},
		{"untrusted certificate after starttls", untrustedStartTLS, "tls handshake", false},
		{"unknown security", Account{Host: "127.0.0.1", Port: 1, Security: "ssl"}, "unknown security", false},
		{"nothing listening", Account{Host: "127.0.0.1", Port: 1, Security: "none"}, "dial 127.0.0.1:1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Dial(context.Background(), tt.account)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Dial: %v", err)
				}
				if err := c.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
				return
			}
			if err == nil {
				c.Close()
				t.Fatalf("Dial succeeded, want error containing %q", tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
			if got := errors.Is(err, ErrAuth); got != tt.auth {
				t.Errorf("errors.Is(err, ErrAuth) = %v, want %v (err: %v)", got, tt.auth, err)
			}
		})
	}
}

// TestDialCancelled returns the context error without hanging.
func TestDialCancelled(t *testing.T) {
	s := newMemServer(t, serverConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Dial(ctx, s.account("none")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Dial with cancelled context: %v, want context.Canceled", err)
	}
}
