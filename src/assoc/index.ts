/** Associations (client, symmetric, broadcast client, NTS client), the server responder and broadcast server. */
export * from './association.js';
export * from './broadcast.js';
export * from './server.js';
export * from './util.js';
