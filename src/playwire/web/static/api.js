// The HTTP JSON API (docs/protocol.md, "HTTP API"). The server answers with a session
// cookie on login and register, which is what authenticates the Socket.IO connections of
// this page.

const MESSAGES = {
  invalid_username: "Usernames are 3–32 letters, digits, _ or -.",
  invalid_password: "Passwords have at least 8 characters.",
  username_taken: "That username is taken.",
  invalid_credentials: "Wrong username or password.",
  invalid_json: "The request was malformed.",
  unauthenticated: "You are not logged in.",
};

export class ApiError extends Error {
  constructor(code, status) {
    super(MESSAGES[code] || `Request failed (${code || status}).`);
    this.code = code;
    this.status = status;
  }
}

async function request(method, path, body) {
  const options = { method, credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  if (response.status === 204) return null;
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(data.error, response.status);
  return data;
}

export const register = (username, password) =>
  request("POST", "/api/register", { username, password });

export const login = (username, password) => request("POST", "/api/login", { username, password });

export const logout = () => request("POST", "/api/logout");

/** The logged-in user {id, username}, or null when the session cookie is missing or stale. */
export async function currentUser() {
  try {
    return await request("GET", "/api/me");
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return null;
    throw error;
  }
}
