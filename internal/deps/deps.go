// Package deps pins the project's dependencies while the packages that use
// them are being written; it is removed once every one has a real importer.
package deps

import (
	_ "blitiri.com.ar/go/spf"
	_ "github.com/emersion/go-milter"
	_ "github.com/emersion/go-msgauth/authres"
	_ "github.com/emersion/go-msgauth/dkim"
	_ "github.com/emersion/go-msgauth/dmarc"
	_ "github.com/emersion/go-smtp"
	_ "github.com/miekg/dns"
	_ "github.com/redis/go-redis/v9"
	_ "go.uber.org/goleak"
	_ "golang.org/x/net/idna"
	_ "golang.org/x/net/publicsuffix"
	_ "gopkg.in/yaml.v3"
)
