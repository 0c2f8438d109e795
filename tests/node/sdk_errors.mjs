// What openai-node and the Vercel AI SDK print for Seawall's errors: String(error), the line
// their users see. Usage: node sdk_errors.mjs <gateway url> <key> <model>
// Prints one JSON object: {case: printed text}. Run by tests/e2e/test_node_sdks.py.
import { createOpenAI } from "@ai-sdk/openai";
import { generateText, streamText } from "ai";
import OpenAI from "openai";

const [url, apiKey, model] = process.argv.slice(2);
const messages = [{ role: "user", content: "hi" }];
const client = new OpenAI({ baseURL: url + "/v1", apiKey, maxRetries: 0 });
const provider = createOpenAI({ baseURL: url + "/v1", apiKey });

async function printed(call) {
  try {
    await call();
    return "no error";
  } catch (e) {
    return String(e);
  }
}

const out = {
  "openai-node": await printed(() => client.chat.completions.create({ model, messages })),
  "openai-node stream": await printed(async () => {
    for await (const _ of await client.chat.completions.create({ model, messages, stream: true }));
  }),
  "ai generateText": await printed(() => generateText({ model: provider.chat(model), messages, maxRetries: 0 })),
  // streamText does not throw: its errors arrive as the stream's error parts
  "ai streamText": await printed(async () => {
    const stream = streamText({ model: provider.chat(model), messages, maxRetries: 0, onError: () => {} });
    for await (const part of stream.fullStream) {
      if (part.type === "error") throw part.error;
    }
  }),
};
console.log(JSON.stringify(out));
