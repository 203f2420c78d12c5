package main

import (
	"os/exec"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionString(t *testing.T) {
	settings := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	tests := []struct {
		name   string
		bi     *debug.BuildInfo
		ok     bool
		source string
		want   string
	}{
		{"a release", &debug.BuildInfo{Main: debug.Module{Version: "v1.2.0"}}, true, "", "v1.2.0 (unknown revision) go1.x"},
		{"a checkout", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"},
			Settings: settings("vcs.revision", "0123456789abcdef", "vcs.time", "2026-12-01T10:00:00Z", "vcs.modified", "false")},
			true, "", "(devel) (revision 0123456789ab, 2026-12-01T10:00:00Z) go1.x"},
		{"modified", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"},
			Settings: settings("vcs.revision", "0123456789abcdef", "vcs.modified", "true")},
			true, "", "(devel) (revision 0123456789ab, modified) go1.x"},
		{"heroku: no .git, SOURCE_VERSION stamped", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}},
			true, "fedcba9876543210fedc", "(devel) (revision fedcba987654) go1.x"},
		{"the build info wins over the stamp", &debug.BuildInfo{Settings: settings("vcs.revision", "aaaaaaaaaaaaaaaa")},
			true, "bbbbbbbbbbbb", "(devel) (revision aaaaaaaaaaaa) go1.x"},
		{"no build info at all", nil, false, "", "(devel) (unknown revision) go1.x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := versionString(tt.bi, tt.ok, tt.source, "go1.x"); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestProcessVersion checks `rulebot version` on the built binary, and on
// one built as the Heroku buildpack builds it: without VCS information,
// with the commit stamped by -ldflags -X main.sourceVersion.
func TestProcessVersion(t *testing.T) {
	out, err := exec.Command(binary, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	line := strings.TrimSpace(string(out))
	re := regexp.MustCompile(`^rulebot \S+ \((revision [0-9a-f]{12}(, [0-9TZ:-]+)?(, modified)?|unknown revision)\) ` + regexp.QuoteMeta(runtime.Version()) + `$`)
	if !re.MatchString(line) {
		t.Errorf("rulebot version: %q, want it to match %s", line, re)
	}

	stamped := t.TempDir() + "/rulebot"
	build := exec.Command("go", "build", "-buildvcs=false", "-ldflags", "-X main.sourceVersion=0123456789abcdef0123", "-o", stamped, ".")
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	out, err = exec.Command(stamped, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.TrimSpace(string(out)), "rulebot (devel) (revision 0123456789ab) "+runtime.Version(); got != want {
		t.Errorf("stamped build: %q, want %q", got, want)
	}
}
