package web

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

var screenshots = flag.Bool("screenshots", false, "write docs/screenshots/*.png from the seeded pages")

// TestScreenshots writes the README's pictures of the main pages, at a
// laptop's size and one at a phone's:
//
//	go test ./web/ -run TestScreenshots -screenshots
func TestScreenshots(t *testing.T) {
	if !*screenshots {
		t.Skip("run with -screenshots to write docs/screenshots")
	}
	f := newFixture(t, false)
	tab := newTab(t)
	dir := filepath.Join("..", "docs", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	base := f.ts.URL
	within(t, tab, chromedp.EmulateViewport(1280, 900), chromedp.Navigate(base+"/login"),
		chromedp.SendKeys(chromedp.CSS("#secret"), testPassword))
	submit(t, tab, `button[type="submit"].primary`)
	shots := []struct{ name, path, ready string }{
		{"today", "/", `body[data-page="today"]`},
		{"draft", fmt.Sprintf("/drafts/%d", f.drafts["Chen"]), `body[data-page="draft"] #email`},
		{"thread", fmt.Sprintf("/threads/%d", f.threads["Tanaka"]), `body[data-page="thread"] #timeline`},
		{"threads", "/threads", `body[data-page="threads"] table`},
	}
	for _, s := range shots {
		shoot(t, tab, filepath.Join(dir, s.name+".png"), base+s.path, s.ready)
	}
	// Contacts right after an upload with two bad rows: the rows are listed.
	csv := filepath.Join(t.TempDir(), "faculty.csv")
	if err := os.WriteFile(csv, []byte("email,first_name,last_name,institution,timezone\n"+
		"m.rossi@policlinico.example.it,Marco,Rossi,Policlinico Example,Europe/Rome\n"+
		"not-an-email,Bad,Address,,\n"+
		"p.silva@example.edu,Paula,Silva,Example College,America/Sao_Paolo\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	within(t, tab, chromedp.Navigate(base+"/contacts"), chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{csv}))
	submit(t, tab, `#import-form button[type="submit"]`)
	within(t, tab, chromedp.WaitVisible(chromedp.CSS("#import-result")))
	capture(t, tab, filepath.Join(dir, "contacts.png"))
	within(t, tab, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateScale(2)))
	shoot(t, tab, filepath.Join(dir, "today-phone.png"), base+"/", `body[data-page="today"]`)
}

func shoot(t *testing.T, tab context.Context, file, url, ready string) {
	t.Helper()
	within(t, tab, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS(ready)))
	capture(t, tab, file)
}

func capture(t *testing.T, tab context.Context, file string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, 15*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot %s: %v", file, err)
	}
	if err := os.WriteFile(file, png, 0o644); err != nil {
		t.Fatal(err)
	}
}
