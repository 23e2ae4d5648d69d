// Text modules (wrangler.jsonc "rules"): the file's content as a string.
declare module "socket.io-client/dist/socket.io.js" {
  const text: string;
  export default text;
}
