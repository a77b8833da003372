// ccwal: this file is part of the ccwal project, not of cc-backend. It is
// added to cc-backend's internal/auth at build time (scripts/ccbackend-build.sh).

package auth

import (
	"errors"
	"net/http"
	"strings"
	"sync"

	cclog "github.com/ClusterCockpit/cc-lib/v2/ccLogger"
	"github.com/ClusterCockpit/cc-lib/v2/schema"
	"github.com/golang-jwt/jwt/v5"
)

// verifiedTokensMax bounds the cache of verified tokens. A site has a few
// collector tokens; the cache is emptied when it is full, so a flood of
// distinct valid tokens costs verifications, never memory.
const verifiedTokensMax = 1024

// verifiedTokens maps a raw token whose Ed25519 signature verified with the
// configured public key to its claims. The signature is a pure function of
// the token's bytes and the key (which Init sets once), so a repeated
// token need not be verified again; its time claims (exp, nbf) are checked
// again at every use. A collector posting to /api/write every few seconds
// otherwise pays a signature verification per request: 9% of the server's
// CPU under a write load.
var verifiedTokens = struct {
	sync.RWMutex
	claims map[string]jwt.MapClaims
}{claims: make(map[string]jwt.MapClaims)}

// tokenTimes checks the time claims as jwt.Parse does by default.
var tokenTimes = jwt.NewValidator()

// AuthViaJWT authenticates a request by the token in its X-Auth-Token or
// Authorization ("Bearer ...") header: (nil, nil) without one. As
// upstream's, but a token already verified is taken from verifiedTokens.
func (ja *JWTAuthenticator) AuthViaJWT(
	rw http.ResponseWriter,
	r *http.Request,
) (*schema.User, error) {
	rawtoken := r.Header.Get("X-Auth-Token")
	if rawtoken == "" {
		rawtoken = r.Header.Get("Authorization")
		rawtoken = strings.TrimPrefix(rawtoken, "Bearer ")
	}
	if rawtoken == "" {
		return nil, nil
	}

	claims, err := ja.verifiedClaims(rawtoken)
	if err != nil {
		return nil, err
	}
	user, err := getUserFromJWT(claims, Keys.JwtConfig.ValidateUser, schema.AuthToken, -1)
	if err != nil {
		return nil, err
	}
	if !Keys.JwtConfig.ValidateUser {
		user.Roles = extractRolesFromClaims(claims, false)
		user.Projects = nil // Standard JWT auth doesn't include projects
	}
	return user, nil
}

// verifiedClaims returns the claims of a token signed with the configured
// key whose time claims hold now. The claims returned are shared: callers
// only read them.
func (ja *JWTAuthenticator) verifiedClaims(rawtoken string) (jwt.MapClaims, error) {
	verifiedTokens.RLock()
	claims, ok := verifiedTokens.claims[rawtoken]
	verifiedTokens.RUnlock()
	if ok {
		if err := tokenTimes.Validate(claims); err != nil {
			verifiedTokens.Lock()
			delete(verifiedTokens.claims, rawtoken)
			verifiedTokens.Unlock()
			cclog.Warn("Error while parsing JWT token")
			return nil, err
		}
		return claims, nil
	}

	token, err := jwt.Parse(rawtoken, func(t *jwt.Token) (any, error) {
		if t.Method != jwt.SigningMethodEdDSA {
			return nil, errors.New("only Ed25519/EdDSA supported")
		}
		return ja.publicKey, nil
	})
	if err != nil {
		cclog.Warn("Error while parsing JWT token")
		return nil, err
	}
	if !token.Valid {
		cclog.Warn("jwt token claims are not valid")
		return nil, errors.New("jwt token claims are not valid")
	}
	claims = token.Claims.(jwt.MapClaims)

	verifiedTokens.Lock()
	if len(verifiedTokens.claims) >= verifiedTokensMax {
		clear(verifiedTokens.claims)
	}
	verifiedTokens.claims[rawtoken] = claims
	verifiedTokens.Unlock()
	return claims, nil
}
