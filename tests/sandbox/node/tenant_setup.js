// Drives the official node `auth0` SDK (pinned in package.json) through what a tenant's setup
// creates: connections (database and SAML), roles and resource servers, each created, read,
// changed and deleted; a resource server's scope given to a user as a permission. Prints what it
// got back as one JSON object, for tests/sandbox/test_node_sdk.py to check.
// Usage: node tenant_setup.js <base url> <token>
"use strict";

const { ConnectionsClient } = require("auth0/connections");
const { RolesClient } = require("auth0/roles");
const { ResourceServersClient } = require("auth0/resourceServers");
const { UsersClient } = require("auth0/users");

async function main() {
  const [baseUrl, token] = process.argv.slice(2);
  const options = { baseUrl: `${baseUrl}/api/v2`, token };
  const connections = new ConnectionsClient(options);
  const roles = new RolesClient(options);
  const servers = new ResourceServersClient(options);
  const users = new UsersClient(options);
  const out = {};

  const db = await connections.create({ name: "node-db", strategy: "auth0" });
  const saml = await connections.create({
    name: "node-saml",
    strategy: "samlp",
    options: { signInEndpoint: "https://idp.example.com/sso" },
  });
  const patched = await connections.update(db.id, {
    display_name: "Node database",
    options: { requires_username: true },
  });
  out.connections = {
    db: { strategy: db.strategy, realms: db.realms },
    saml: { ticket: typeof saml.provisioning_ticket_url, button: saml.show_as_button },
    patched: { display_name: patched.display_name, options: patched.options },
    read: (await connections.get(db.id)).display_name,
  };
  await connections.delete(saml.id);
  try {
    await connections.get(saml.id);
    out.connections.deletedRead = "found";
  } catch (error) {
    out.connections.deletedRead = error.statusCode;
  }
  await connections.delete(db.id);

  const role = await roles.create({ name: "node-role", description: "Made by node" });
  const renamed = await roles.update(role.id, { description: "Changed by node" });
  out.role = { name: role.name, description: renamed.description, id: role.id.slice(0, 4) };
  await roles.delete(role.id);
  try {
    await roles.get(role.id);
    out.role.deletedRead = "found";
  } catch (error) {
    out.role.deletedRead = error.statusCode;
  }

  const server = await servers.create({
    name: "Node API",
    identifier: "https://node.example.com/",
    scopes: [{ value: "read:things", description: "Read things" }],
  });
  out.server = {
    signing_alg: server.signing_alg,
    token_lifetime: server.token_lifetime,
    read: (await servers.get(server.id)).identifier,
  };
  const user = await users.create({
    connection: "Username-Password-Authentication",
    email: "node.setup@example.com",
    password: "long enough",
  });
  await users.permissions.create(user.user_id, {
    permissions: [
      { resource_server_identifier: "https://node.example.com/", permission_name: "read:things" },
    ],
  });
  const held = [];
  for await (const p of await users.permissions.list(user.user_id)) held.push(p);
  out.permissions = held.map((p) => `${p.resource_server_name}: ${p.permission_name}`);
  await servers.delete(server.id);
  const after = [];
  for await (const p of await users.permissions.list(user.user_id)) after.push(p);
  out.permissionsAfter = after.length;
  await users.delete(user.user_id);

  process.stdout.write(JSON.stringify(out));
}

main().catch((error) => {
  process.stderr.write(`${error.stack || error}\n${JSON.stringify(error.body || {})}\n`);
  process.exit(1);
});
