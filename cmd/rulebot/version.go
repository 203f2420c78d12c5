package main

import (
	"runtime"
	"runtime/debug"
	"strings"
)

// sourceVersion is the commit the binary was built from when the build has
// no VCS information, set by the linker: on Heroku, where the build has no
// .git, `heroku config:set GO_LINKER_SYMBOL=main.sourceVersion` makes the
// Go buildpack add -ldflags "-X main.sourceVersion=$SOURCE_VERSION". It is
// never assigned at run time.
var sourceVersion string

// version says which release runs: the module version, the VCS revision
// and its time (or the commit stamped by the linker), and the Go version,
// e.g. "v1.2.0 (revision 0123456789ab, 2026-12-01T10:00:00Z) go1.25.1".
func version() string {
	bi, ok := debug.ReadBuildInfo()
	return versionString(bi, ok, sourceVersion, runtime.Version())
}

// versionString is version from its sources: the build info (ok false
// when the binary has none), the commit the linker set, and Go's version.
func versionString(bi *debug.BuildInfo, ok bool, source, goVersion string) string {
	v := "(devel)"
	var rev, at string
	dirty := false
	if ok {
		if bi.Main.Version != "" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				at = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
	}
	if rev == "" {
		rev = strings.TrimSpace(source)
	}
	var b strings.Builder
	b.WriteString(v)
	if rev == "" {
		b.WriteString(" (unknown revision)")
	} else {
		b.WriteString(" (revision " + rev[:min(12, len(rev))])
		if at != "" {
			b.WriteString(", " + at)
		}
		if dirty {
			b.WriteString(", modified")
		}
		b.WriteString(")")
	}
	b.WriteString(" " + goVersion)
	return b.String()
}
