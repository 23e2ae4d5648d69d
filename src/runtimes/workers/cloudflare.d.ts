// Types of the one `cloudflare:workers` export this package extends. Projects
// with @cloudflare/workers-types get the full declaration from there.
declare module "cloudflare:workers" {
  export abstract class DurableObject<Env = unknown> {
    protected ctx: import("./platform.ts").DurableObjectState;
    protected env: Env;
    constructor(ctx: import("./platform.ts").DurableObjectState, env: Env);
  }
}
