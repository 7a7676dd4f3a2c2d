// The one thriftrw type these tests use (the package ships no declarations).
declare module 'thriftrw' {
  export class Thrift {
    constructor(o: {
      entryPoint?: string;
      source?: string;
      allowFilesystemAccess?: boolean;
      strict?: boolean;
    });
  }
}
