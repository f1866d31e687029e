// Placeholder replaced by the testkit leak guard.
export {};
