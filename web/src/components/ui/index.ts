export { Badge } from "./Badge";
export { Button } from "./Button";
export { Card } from "./Card";
export { Input } from "./Input";
export { Spinner } from "./Spinner";
