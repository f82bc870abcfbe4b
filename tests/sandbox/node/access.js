// Drives the official node `auth0` SDK (pinned in package.json) on the endpoints of a user's
// access against a sandbox tenant: roles, permissions, organizations and their member roles, one
// refresh token, linking and unlinking. Prints what it got back as one JSON object for
// tests/sandbox/test_node_sdk.py to check.
// Usage: node access.js <base url> <token> <json: {member, organization, devices}>
"use strict";

const { UsersClient } = require("auth0/users");
const { RolesClient } = require("auth0/roles");
const { OrganizationsClient } = require("auth0/organizations");
const { RefreshTokensClient } = require("auth0/refreshTokens");

const DB = "Username-Password-Authentication";
const DB_ID = "con_Db1Pw2Xk9LmQ4RtZ";

async function all(pagePromise) {
  const items = [];
  for await (const item of await pagePromise) items.push(item);
  return items;
}

async function status(promise) {
  try {
    await promise;
    return "ok";
  } catch (error) {
    return error.statusCode;
  }
}

async function main() {
  const [baseUrl, token, idsJson] = process.argv.slice(2);
  const ids = JSON.parse(idsJson);
  const options = { baseUrl: `${baseUrl}/api/v2`, token, maxRetries: 0 };
  const users = new UsersClient(options);
  const roles = new RolesClient(options);
  const organizations = new OrganizationsClient(options);
  const refreshTokens = new RefreshTokensClient(options);
  const out = {};
  const made = [];
  const suffix = `${process.pid}-${Date.now()}`;
  const user = async (name, extra) => {
    const created = await users.create({
      connection: DB,
      email: `${name}-${suffix}@example.com`,
      password: "correct horse battery staple",
      email_verified: true,
      ...extra,
    });
    made.push(created.user_id);
    return created;
  };

  try {
    // Roles: a name search, a page with totals, the pager over every page, one role.
    const admin = await all(roles.list({ name_filter: "ADMIN" }));
    out.adminSearch = admin.map((r) => r.name);
    const page = await roles.list({ page: 1, per_page: 20, include_totals: true });
    out.rolesPage = { size: page.data.length, total: page.response.total, start: page.response.start };
    out.everyRole = (await all(roles.list({ per_page: 25 }))).length;
    out.oneRole = (await roles.get(admin[0].id)).name;
    out.missingRole = await status(roles.get("rol_doesNotExist0000"));

    // A user's roles and the permissions they give.
    const someone = await user("roles", {});
    await users.roles.assign(someone.user_id, { roles: [admin[0].id] });
    out.userRoles = (await all(users.roles.list(someone.user_id))).map((r) => r.name);
    const permissions = await all(users.permissions.list(someone.user_id, { per_page: 5 }));
    out.permissions = permissions.length;
    out.permissionSources = [...new Set(permissions.flatMap((p) => (p.sources || []).map((s) => s.source_type)))];
    await users.roles.delete(someone.user_id, { roles: [admin[0].id] });
    out.userRolesAfter = (await all(users.roles.list(someone.user_id))).length;
    out.unknownRole = await status(users.roles.assign(someone.user_id, { roles: ["rol_doesNotExist0000"] }));

    // Organizations: a member's organizations, the members, their roles, removal.
    const org = ids.organization;
    out.memberOf = (await all(users.organizations.list(ids.member))).map((o) => o.id).includes(org);
    await organizations.members.create(org, { members: [someone.user_id] });
    out.members = (await all(organizations.members.list(org))).map((m) => m.user_id).includes(someone.user_id);
    await organizations.members.roles.assign(org, someone.user_id, { roles: [admin[0].id] });
    out.memberRoles = (await all(organizations.members.roles.list(org, someone.user_id))).map((r) => r.name);
    await organizations.members.roles.delete(org, someone.user_id, { roles: [admin[0].id] });
    out.memberRolesAfter = (await all(organizations.members.roles.list(org, someone.user_id))).length;
    await organizations.members.delete(org, { members: [someone.user_id] });
    out.orgsAfter = (await all(users.organizations.list(someone.user_id))).length;

    // One refresh token: read, deleted, gone.
    const tokens = await all(users.refreshToken.list(ids.devices));
    const one = await refreshTokens.get(tokens[0].id);
    out.oneToken = { id: one.id === tokens[0].id, user: one.user_id };
    await refreshTokens.delete(tokens[0].id);
    out.tokenAfter = await status(refreshTokens.get(tokens[0].id));

    // Linking a secondary into a primary, and unlinking it again.
    const primary = await user("primary", { name: "Primary Pat" });
    const secondary = await user("secondary", { name: "Second Sam" });
    const local = secondary.identities[0].user_id;
    const linked = await users.identities.link(primary.user_id, {
      provider: "auth0",
      user_id: secondary.user_id,
      connection_id: DB_ID,
    });
    out.linked = linked.map((i) => i.user_id);
    out.secondaryGone = await status(users.get(secondary.user_id));
    out.linkedAgain = await status(users.identities.link(primary.user_id, { provider: "auth0", user_id: local }));
    const remaining = await users.identities.delete(primary.user_id, "auth0", local);
    out.remaining = remaining.length;
    out.unlinkedBack = (await users.get(secondary.user_id)).user_id;
    out.primaryUnlink = await status(
      users.identities.delete(primary.user_id, "auth0", primary.identities[0].user_id),
    );
  } finally {
    for (const id of made) await status(users.delete(id));
  }
  process.stdout.write(JSON.stringify(out));
}

main().catch((error) => {
  process.stderr.write(`${error.stack || error}\n${JSON.stringify(error.body || {})}\n`);
  process.exit(1);
});
