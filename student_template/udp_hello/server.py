"""Server for the UDP "Hello World!" lab.  Your name: ______________

Write your code under each step.  Grade it with:   python -m grader server server.py --exercise udp_hello
Run it for your partner with:                      python server.py
"""
import socket

# Step 1: Create a UDP socket and bind it to an unreserved port (any port from 1024 to 65535,
#         e.g. 12345). Bind to the host "" to receive datagrams on every network.
#         Hint: s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)   then   s.bind(("", port))
#         (UDP has no listen() and no accept(): there are no connections.)


# Step 2: Print "Waiting for a request..." to the console.


# Step 3: Wait for the client's request. recvfrom() waits for one datagram and returns its
#         bytes and the address it came from:  data, address = s.recvfrom(1024)


# Step 4: Print "Request received from" and the address to the console.


# Step 5: Send the message "Hello World!" back to that address. Sockets send bytes, not
#         text:  s.sendto(b"Hello World!", address)   (the address recvfrom() gave you)


# Step 6: Print "Message sent!" to the console.


# Step 7: Close the socket.
