// The employees web app of the demo, like the one in Delphix's Jet Stream story:
// list employees, add one, remove one. It connects with the container's URL on
// every request, so it keeps working across branch switches, restores and resets.
import http from 'node:http';
import pg from 'pg';

export function startApp(databaseUrl, port = 1080) {
  const server = http.createServer((req, res) => handle(databaseUrl, req, res).catch((err) => {
    res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(`The database did not answer: ${err.message}\nIf a branch switch is running, reload in a second.`);
  }));
  return new Promise((resolve, reject) => {
    server.once('error', (err) => reject(err.code === 'EADDRINUSE'
      ? new Error(`port ${port} is in use; stop what runs there or set DEMO_PORT`) : err));
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

async function handle(databaseUrl, req, res) {
  const url = new URL(req.url, 'http://localhost');
  if (req.method === 'POST') {
    const form = new URLSearchParams(await body(req));
    await query(databaseUrl, url.pathname === '/remove'
      ? ['DELETE FROM employees WHERE id = $1', [Number(form.get('id'))]]
      : ['INSERT INTO employees (first_name, last_name, email) VALUES ($1, $2, $3)',
        [form.get('first_name') ?? '', form.get('last_name') ?? '', form.get('email') || null]]);
    res.writeHead(303, { location: '/' });
    return res.end();
  }
  const rows = await query(databaseUrl, ['SELECT id, first_name, last_name, email FROM employees ORDER BY id DESC LIMIT 200', []]);
  const count = (await query(databaseUrl, ['SELECT count(*) AS n FROM employees', []]))[0].n;
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
  res.end(page(rows, count));
}

async function query(databaseUrl, [text, params]) {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return (await client.query(text, params)).rows;
  } finally {
    await client.end();
  }
}

function body(req) {
  return new Promise((resolve) => {
    let data = '';
    req.on('data', (d) => { data += d; if (data.length > 1e5) req.destroy(); });
    req.on('end', () => resolve(data));
  });
}

const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(rows, count) {
  const list = rows.map((r) => `<tr><td>${r.id}</td><td>${esc(r.first_name)}</td><td>${esc(r.last_name)}</td><td>${esc(r.email)}</td>
    <td><form method="post" action="/remove"><input type="hidden" name="id" value="${r.id}"><button>Remove</button></form></td></tr>`).join('');
  return `<!doctype html><html><head><meta charset="utf-8"><title>Employees</title>
<style>body{font:14px system-ui;margin:2em}table{border-collapse:collapse}td,th{padding:4px 8px;border-bottom:1px solid #ddd;text-align:left}</style></head>
<body><h1>Employees (${count})</h1>
<form method="post" action="/add"><input name="first_name" placeholder="First name" required>
<input name="last_name" placeholder="Last name" required><input name="email" placeholder="Email"><button>Add</button></form>
<table><tr><th>ID</th><th>First</th><th>Last</th><th>Email</th><th></th></tr>${list}</table>
<p>Showing the newest 200. This page reads the Slipstream container "demo" through its connection URL.</p></body></html>`;
}
