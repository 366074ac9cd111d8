// The demo's OpenID Connect provider, configured: one public client (sa-frontend, code flow
// with PKCE S256 only), the three demo accounts, and access tokens that are signed JWTs
// carrying the claims the mesh's AuthorizationPolicies read (group, usertype).
import crypto from "node:crypto";
import Provider, { type Configuration, type KoaContextWithOIDC } from "oidc-provider";
import type { JWK } from "jose";
import { findDemoAccount } from "./accounts.ts";

export interface IdpSettings {
  /** Where users and the mesh reach the IdP; its path is where the routes are mounted. */
  issuer: string;
  /** The frontend's redirect URIs (its page), exactly as the browser sends them. */
  redirectUris: string[];
  signingKey: JWK;
  /** Audience of the access tokens (what RequestAuthentication's `audiences` names). */
  audience: string;
}

export const CLIENT_ID = "sa-frontend";
// The resource indicator the access tokens are for. A URN: the API is the gateway's
// /sentiment and /feedback, whose origin differs by setup, so no URL would be stable.
export const RESOURCE = "urn:skiff:sentiment-api";
const API_SCOPE = "sentiment";

/** The path the issuer lives under ("" at the root), where the routes are mounted. */
export function mountPathOf(issuer: string): string {
  const pathname = new URL(issuer).pathname;
  return pathname.endsWith("/") ? pathname.slice(0, -1) : pathname;
}

function claimsOf(accountId: string): { sub: string; preferred_username: string; group: string; usertype: string } | undefined {
  const account = findDemoAccount(accountId);
  if (account === undefined) return undefined;
  return { sub: account.username, preferred_username: account.username, group: account.group, usertype: account.usertype };
}

export function createProvider(settings: IdpSettings): Provider {
  const mount = mountPathOf(settings.issuer);
  const configuration: Configuration = {
    clients: [{
      client_id: CLIENT_ID,
      // A browser app cannot keep a secret: a public client, protected by PKCE instead.
      token_endpoint_auth_method: "none",
      grant_types: ["authorization_code"],
      response_types: ["code"],
      redirect_uris: settings.redirectUris,
      post_logout_redirect_uris: settings.redirectUris,
    }],
    pkce: { methods: ["S256"], required: () => true },
    jwks: { keys: [settings.signingKey] },
    // Signs the session and interaction cookies; a new secret per start only logs users out.
    cookies: { keys: [crypto.randomBytes(32).toString("base64url")] },
    scopes: ["openid", "profile", API_SCOPE],
    claims: { openid: ["sub"], profile: ["preferred_username", "group", "usertype"] },
    findAccount: async (_ctx, id) => {
      const claims = claimsOf(id);
      return claims === undefined ? undefined : { accountId: id, claims: () => claims };
    },
    // sa-frontend is the demo's own (first-party) app: grant what it asks for without a
    // consent screen, as Keycloak's default client does.
    loadExistingGrant: async (ctx: KoaContextWithOIDC) => {
      const { oidc } = ctx;
      const accountId = oidc.session?.accountId;
      if (accountId === undefined || oidc.client === undefined) return undefined;
      const grant = new ctx.oidc.provider.Grant({ clientId: oidc.client.clientId, accountId });
      grant.addOIDCScope("openid profile");
      grant.addOIDCClaims(["preferred_username", "group", "usertype"]);
      grant.addResourceScope(RESOURCE, API_SCOPE);
      await grant.save();
      return grant;
    },
    features: {
      devInteractions: { enabled: false },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => RESOURCE,
        // At the token endpoint the frontend sends no `resource`: use the one granted.
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({
          scope: API_SCOPE,
          audience: settings.audience,
          accessTokenFormat: "jwt",
          accessTokenTTL: 3600,
          jwt: { sign: { alg: "RS256" } },
        }),
      },
      rpInitiatedLogout: { enabled: true },
    },
    // The claims the mesh authorizes on, copied into the JWT access token.
    extraTokenClaims: async (_ctx, token) => {
      const accountId = "accountId" in token ? token.accountId : undefined;
      if (typeof accountId !== "string") return undefined;
      const claims = claimsOf(accountId);
      return claims === undefined ? undefined : { group: claims.group, usertype: claims.usertype };
    },
    interactions: { url: (_ctx, interaction) => `${mount}/interaction/${interaction.uid}` },
  };
  const provider = new Provider(settings.issuer, configuration);
  // Behind the gateway, X-Forwarded-Proto says how the browser reached us.
  provider.proxy = true;
  return provider;
}
