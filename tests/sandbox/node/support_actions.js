// Drives the official node `auth0` SDK (pinned in package.json) against a sandbox tenant and
// prints what it got back as one JSON object, for tests/sandbox/test_node_sdk.py to check.
// Usage: node support_actions.js <base url> <token> <json: {blocked, mfa, devices}>
"use strict";

const { UsersClient } = require("auth0/users");
const { UserBlocksClient } = require("auth0/userBlocks");
const { TicketsClient } = require("auth0/tickets");
const { JobsClient } = require("auth0/jobs");
const { ConnectionsClient } = require("auth0/connections");
const { SessionsClient } = require("auth0/sessions");

async function all(pagePromise) {
  const items = [];
  for await (const item of await pagePromise) items.push(item);
  return items;
}

async function main() {
  const [baseUrl, token, idsJson] = process.argv.slice(2);
  const ids = JSON.parse(idsJson);
  const options = { baseUrl: `${baseUrl}/api/v2`, token };
  const users = new UsersClient(options);
  const blocks = new UserBlocksClient(options);
  const tickets = new TicketsClient(options);
  const jobs = new JobsClient(options);
  const connections = new ConnectionsClient(options);
  const sessionsClient = new SessionsClient(options);
  const out = {};

  const created = await users.create({
    connection: "Username-Password-Authentication",
    email: "node.sdk@example.com",
    password: "long enough",
    user_metadata: { color: "blue", size: 3 },
  });
  const updated = await users.update(created.user_id, {
    blocked: true,
    user_metadata: { color: null, shape: "round" },
  });
  out.updated = { blocked: updated.blocked, user_metadata: updated.user_metadata };

  out.blocksBefore = (await blocks.list(ids.blocked)).blocked_for;
  await blocks.delete(ids.blocked);
  out.blocksAfter = (await blocks.list(ids.blocked)).blocked_for;
  out.byIdentifier = (await blocks.listByIdentifier({ identifier: "nobody@example.com" })).blocked_for;
  await blocks.deleteByIdentifier({ identifier: "nobody@example.com" });

  out.logTypes = (await all(users.logs.list(ids.blocked, { per_page: 5 }))).map((e) => e.type);

  const job = await jobs.verificationEmail.create({ user_id: created.user_id });
  out.job = { type: job.type, status: job.status, read: (await jobs.get(job.id)).type };
  out.ticket = (await tickets.changePassword({ user_id: created.user_id, ttl_sec: 600 })).ticket;

  const methods = await all(users.authenticationMethods.list(ids.mfa));
  out.methodTypes = methods.map((m) => m.type);
  out.oneMethod = (await users.authenticationMethods.get(ids.mfa, methods[0].id)).id;
  await users.authenticationMethods.delete(ids.mfa, methods[0].id);
  await users.multifactor.invalidateRememberBrowser(ids.mfa);
  await users.authenticationMethods.deleteAll(ids.mfa);
  out.methodsAfter = (await all(users.authenticationMethods.list(ids.mfa))).length;

  const sessionList = await all(users.sessions.list(ids.devices));
  out.sessions = sessionList.length;
  out.tokens = (await all(users.refreshToken.list(ids.devices))).length;
  out.oneSession = (await sessionsClient.get(sessionList[0].id)).user_id;
  await sessionsClient.revoke(sessionList[0].id);
  await users.revokeAccess(ids.devices, { preserve_refresh_tokens: true });
  await users.sessions.delete(ids.devices);
  await users.refreshToken.delete(ids.devices);
  out.sessionsAfter = (await all(users.sessions.list(ids.devices))).length;
  out.tokensAfter = (await all(users.refreshToken.list(ids.devices))).length;

  out.connection = (await connections.get("con_Db1Pw2Xk9LmQ4RtZ")).name;

  await users.delete(created.user_id);
  try {
    await users.get(created.user_id);
    out.afterDelete = "found";
  } catch (error) {
    out.afterDelete = error.statusCode;
  }
  process.stdout.write(JSON.stringify(out));
}

main().catch((error) => {
  process.stderr.write(`${error.stack || error}\n${JSON.stringify(error.body || {})}\n`);
  process.exit(1);
});
