// ccwal: this file is part of the ccwal project, not of cc-backend. It is
// added to cc-backend's internal/auth for the test action of
// scripts/ccbackend-build.sh.

package auth

import (
	"crypto/ed25519"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func signed(t *testing.T, key ed25519.PrivateKey, claims jwt.MapClaims) string {
	t.Helper()
	token, err := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return token
}

func authenticate(ja *JWTAuthenticator, token string) (string, error) {
	r := httptest.NewRequest("POST", "/api/write", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	user, err := ja.AuthViaJWT(httptest.NewRecorder(), r)
	if err != nil || user == nil {
		return "", err
	}
	return user.Username, nil
}

// TestCcwalJWTCache: a verified token is taken from the cache, but its
// expiry still counts at every use, a token signed with another key is
// refused (also after the right one was cached), and the cache stays
// bounded.
func TestCcwalJWTCache(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	_, otherPriv, _ := ed25519.GenerateKey(nil)
	Keys.JwtConfig = &JWTAuthConfig{}
	ja := &JWTAuthenticator{publicKey: pub, privateKey: priv}
	clear(verifiedTokens.claims)

	good := signed(t, priv, jwt.MapClaims{"sub": "collector", "roles": []string{"api"}, "exp": time.Now().Add(time.Hour).Unix()})
	for i := 0; i < 2; i++ {
		if name, err := authenticate(ja, good); err != nil || name != "collector" {
			t.Fatalf("use %d of a valid token: %q, %v", i, name, err)
		}
	}
	if _, ok := verifiedTokens.claims[good]; !ok {
		t.Fatal("a verified token was not cached")
	}

	forged := signed(t, otherPriv, jwt.MapClaims{"sub": "collector", "roles": []string{"api"}})
	if _, err := authenticate(ja, forged); err == nil {
		t.Fatal("a token signed with another key was accepted")
	}
	if _, ok := verifiedTokens.claims[forged]; ok {
		t.Fatal("a refused token was cached")
	}

	// Expiring while cached: refused at its next use, and dropped.
	soon := signed(t, priv, jwt.MapClaims{"sub": "collector", "exp": time.Now().Add(time.Second).Unix()})
	if _, err := authenticate(ja, soon); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2100 * time.Millisecond)
	if _, err := authenticate(ja, soon); err == nil {
		t.Fatal("an expired token was accepted from the cache")
	}
	if _, ok := verifiedTokens.claims[soon]; ok {
		t.Fatal("an expired token stayed cached")
	}

	// Not yet valid: refused, not cached.
	later := signed(t, priv, jwt.MapClaims{"sub": "collector", "nbf": time.Now().Add(time.Hour).Unix()})
	if _, err := authenticate(ja, later); err == nil {
		t.Fatal("a token before its nbf was accepted")
	}

	for i := 0; i < verifiedTokensMax+10; i++ {
		if _, err := authenticate(ja, signed(t, priv, jwt.MapClaims{"sub": "collector", "jti": i})); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(verifiedTokens.claims); n > verifiedTokensMax {
		t.Fatalf("%d tokens cached, more than %d", n, verifiedTokensMax)
	}
}
