// The demo's users: the tutorial's Keycloak realm, as data. Everyone's password is
// "password" (a demo, not a secret); the claims are what the AuthorizationPolicies read.
export interface DemoAccount {
  username: string;
  group: "users" | "moderator";
  usertype: "regular" | "beta";
}

export const DEMO_PASSWORD = "password";

export const DEMO_ACCOUNTS: readonly DemoAccount[] = [
  { username: "user", group: "users", usertype: "regular" },
  { username: "beta", group: "users", usertype: "beta" },
  { username: "moderator", group: "moderator", usertype: "regular" },
];

export function findDemoAccount(username: string): DemoAccount | undefined {
  return DEMO_ACCOUNTS.find((account) => account.username === username);
}

/** The account when the credentials are right, else undefined (no hint which part was wrong). */
export function checkCredentials(username: string, password: string): DemoAccount | undefined {
  const account = findDemoAccount(username);
  return account !== undefined && password === DEMO_PASSWORD ? account : undefined;
}
